#include "common/storage/store.h"

namespace mlpipe::storage {

void WriteBatch::Put(std::string_view cf, std::string_view key,
                     std::string value) {
  bytes_ += key.size() + value.size();
  ops_.emplace_back(Kind::kPut, std::string(cf), std::string(key),
                    std::move(value));
}

void WriteBatch::Delete(std::string_view cf, std::string_view key) {
  bytes_ += key.size();
  ops_.emplace_back(Kind::kDelete, std::string(cf), std::string(key),
                    std::string());
}

void WriteBatch::DeleteRange(std::string_view cf, std::string_view begin,
                             std::string_view end) {
  bytes_ += begin.size() + end.size();
  ops_.emplace_back(Kind::kDeleteRange, std::string(cf), std::string(begin),
                    std::string(end));
}

}  // namespace mlpipe::storage
