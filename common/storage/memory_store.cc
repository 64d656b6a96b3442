// An in-memory Store for unit tests of logic that does not need durability.
#include <map>
#include <mutex>

#include "common/storage/key_codec.h"
#include "common/storage/store.h"

namespace mlpipe::storage {
namespace {

using Family = std::map<std::string, std::string, std::less<>>;

// Iterates over a copy of the matching range, so concurrent writes never
// invalidate it (a snapshot, as RocksDB iterators are).
class MemoryIterator final : public Iterator {
 public:
  explicit MemoryIterator(std::vector<std::pair<std::string, std::string>> rows)
      : rows_(std::move(rows)) {}
  bool Valid() const override { return pos_ < rows_.size(); }
  void Next() override { ++pos_; }
  std::string_view key() const override { return rows_[pos_].first; }
  std::string_view value() const override { return rows_[pos_].second; }
  absl::Status status() const override { return absl::OkStatus(); }

 private:
  std::vector<std::pair<std::string, std::string>> rows_;
  size_t pos_ = 0;
};

class MemoryStore final : public Store {
 public:
  absl::StatusOr<std::string> Get(std::string_view cf,
                                  std::string_view key) const override {
    std::lock_guard lock(mu_);
    const Family& f = families_[std::string(cf)];
    auto it = f.find(key);
    if (it == f.end()) return absl::NotFoundError("key not found");
    return it->second;
  }

  absl::Status Put(std::string_view cf, std::string_view key,
                   std::string_view value, WriteOptions) override {
    std::lock_guard lock(mu_);
    families_[std::string(cf)][std::string(key)] = std::string(value);
    return absl::OkStatus();
  }

  absl::Status Write(const WriteBatch& batch, WriteOptions) override {
    std::lock_guard lock(mu_);
    for (const auto& op : batch.ops()) {
      Family& f = families_[op.column_family];
      switch (op.kind) {
        case WriteBatch::Kind::kPut:
          f[op.key] = op.value;
          break;
        case WriteBatch::Kind::kDelete:
          f.erase(op.key);
          break;
        case WriteBatch::Kind::kDeleteRange:
          f.erase(f.lower_bound(op.key), f.lower_bound(op.value));
          break;
      }
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Iterator> Scan(std::string_view cf, std::string_view prefix,
                                 std::string_view start) const override {
    std::lock_guard lock(mu_);
    const Family& f = families_[std::string(cf)];
    std::vector<std::pair<std::string, std::string>> rows;
    for (auto it = f.lower_bound(start.empty() ? prefix : start);
         it != f.end() && std::string_view(it->first).starts_with(prefix);
         ++it) {
      rows.emplace_back(it->first, it->second);
    }
    return std::make_unique<MemoryIterator>(std::move(rows));
  }

  absl::StatusOr<std::optional<std::string>> LastKey(
      std::string_view cf, std::string_view prefix) const override {
    std::lock_guard lock(mu_);
    const Family& f = families_[std::string(cf)];
    std::string end = PrefixEnd(prefix);
    auto it = end.empty() ? f.end() : f.lower_bound(end);
    if (it == f.begin()) return std::optional<std::string>();
    --it;
    if (!std::string_view(it->first).starts_with(prefix)) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(it->first);
  }

  absl::Status SyncWal() override { return absl::OkStatus(); }
  absl::Status Flush(const std::vector<std::string>&) override {
    return absl::OkStatus();
  }
  absl::Status Writable() override { return absl::OkStatus(); }
  uint64_t ApproximateDiskBytes() const override { return 0; }

 private:
  mutable std::mutex mu_;
  mutable std::map<std::string, Family, std::less<>> families_;
};

}  // namespace

std::unique_ptr<Store> NewMemoryStore() {
  return std::make_unique<MemoryStore>();
}

}  // namespace mlpipe::storage
