#include "common/table/table.h"

#include <bit>

namespace mlpipe::table {

std::string_view ColumnTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kUnknown:
      return "unknown";
    case ColumnType::kNumeric:
      return "numeric";
    case ColumnType::kCategorical:
      return "categorical";
    case ColumnType::kTimestamp:
      return "timestamp";
    case ColumnType::kText:
      return "text";
  }
  return "invalid";
}

void Bitmap::Resize(size_t n, bool value) {
  words_.assign((n + 63) / 64, value ? ~uint64_t{0} : 0);
  size_ = n;
  if (value && n % 64 != 0) words_.back() = (uint64_t{1} << (n % 64)) - 1;
}

size_t Bitmap::CountSet() const {
  size_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

std::string Bitmap::ToBytes() const {
  std::string out((size_ + 7) / 8, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<char>(words_[i / 8] >> ((i % 8) * 8));
  }
  return out;
}

Bitmap Bitmap::FromBytes(std::string_view bytes, size_t n) {
  Bitmap b;
  b.Resize(n, false);
  for (size_t i = 0; i < (n + 7) / 8; ++i) {
    b.words_[i / 8] |= uint64_t{static_cast<unsigned char>(bytes[i])}
                       << ((i % 8) * 8);
  }
  if (n % 64 != 0) b.words_.back() &= (uint64_t{1} << (n % 64)) - 1;
  return b;
}

void Column::AppendMissing() {
  switch (type) {
    case ColumnType::kNumeric:
      numbers.push_back(0);
      break;
    case ColumnType::kTimestamp:
      timestamps.push_back(0);
      break;
    case ColumnType::kCategorical:
    case ColumnType::kText:
      strings.emplace_back();
      break;
    case ColumnType::kUnknown:
      break;
  }
  valid.PushBack(false);
}

Column Column::Slice(size_t begin, size_t count) const {
  Column out;
  out.name = name;
  out.type = type;
  out.timestamp_format = timestamp_format;
  auto copy = [&](const auto& src, auto& dst) {
    if (!src.empty())
      dst.assign(src.begin() + begin, src.begin() + begin + count);
  };
  copy(numbers, out.numbers);
  copy(timestamps, out.timestamps);
  copy(strings, out.strings);
  out.valid.Resize(count, false);
  for (size_t i = 0; i < count; ++i) out.valid.Set(i, valid.Get(begin + i));
  return out;
}

void Column::AppendRows(const Column& other, size_t begin, size_t count) {
  if (other.type == ColumnType::kUnknown) {
    for (size_t i = 0; i < count; ++i) AppendMissing();
    return;
  }
  if (type == ColumnType::kUnknown) {
    size_t n = size();
    type = other.type;
    timestamp_format = other.timestamp_format;
    valid.Clear();
    for (size_t i = 0; i < n; ++i) AppendMissing();
  }
  auto copy = [&](const auto& src, auto& dst) {
    if (!src.empty())
      dst.insert(dst.end(), src.begin() + begin, src.begin() + begin + count);
  };
  copy(other.numbers, numbers);
  copy(other.timestamps, timestamps);
  copy(other.strings, strings);
  for (size_t i = 0; i < count; ++i) valid.PushBack(other.valid.Get(begin + i));
}

size_t Column::ApproximateBytes() const {
  size_t n = numbers.size() * 8 + timestamps.size() * 8 + valid.size() / 8;
  for (const auto& s : strings) n += s.size() + 2;
  return n;
}

int Table::Find(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace mlpipe::table
