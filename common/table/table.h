// The columnar in-memory table: numeric columns as doubles, timestamps as
// microseconds, categorical and text columns as strings, each with a validity
// bitmap. No protobuf here; frame_codec.h converts to and from the wire form.
#ifndef MLPIPE_COMMON_TABLE_TABLE_H_
#define MLPIPE_COMMON_TABLE_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlpipe::table {

// Values match mlpipe.v1.ColumnType.
enum class ColumnType : int {
  kUnknown = 0,  // Every value seen so far is missing.
  kNumeric = 1,
  kCategorical = 2,
  kTimestamp = 3,
  kText = 4,
};

std::string_view ColumnTypeName(ColumnType type);
inline bool IsStringType(ColumnType t) {
  return t == ColumnType::kCategorical || t == ColumnType::kText;
}

// One bit per row, set when the row has a value.
class Bitmap {
 public:
  void Resize(size_t n, bool value);
  void PushBack(bool value) {
    if (size_ % 64 == 0) words_.push_back(0);
    if (value) words_.back() |= uint64_t{1} << (size_ % 64);
    ++size_;
  }
  bool Get(size_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  void Set(size_t i, bool value) {
    if (value) {
      words_[i / 64] |= uint64_t{1} << (i % 64);
    } else {
      words_[i / 64] &= ~(uint64_t{1} << (i % 64));
    }
  }
  size_t size() const { return size_; }
  size_t CountSet() const;
  bool AllSet() const { return CountSet() == size_; }
  void Clear() {
    words_.clear();
    size_ = 0;
  }
  // Bytes, least significant bit first (the Frame wire layout).
  std::string ToBytes() const;
  // REQUIRES: bytes.size() * 8 >= n.
  static Bitmap FromBytes(std::string_view bytes, size_t n);

 private:
  std::vector<uint64_t> words_;
  size_t size_ = 0;
};

struct Column {
  std::string name;
  ColumnType type = ColumnType::kUnknown;
  std::string timestamp_format;      // For kTimestamp; see typing.h.
  std::vector<double> numbers;       // kNumeric.
  std::vector<int64_t> timestamps;   // kTimestamp, microseconds UTC.
  std::vector<std::string> strings;  // kCategorical, kText.
  Bitmap valid;                      // One bit per row.

  size_t size() const { return valid.size(); }
  bool IsValid(size_t row) const { return valid.Get(row); }
  // Appends a missing value (0 / "" in the value array).
  void AppendMissing();
  // Rows [begin, begin + count) as a new column.
  Column Slice(size_t begin, size_t count) const;
  // Appends rows [begin, begin + count) of `other`. A column of unknown type
  // takes `other`'s type; rows of an unknown-typed `other` append as missing.
  // REQUIRES: the types match otherwise.
  void AppendRows(const Column& other, size_t begin, size_t count);
  // Rough in-memory size of the values, for sizing frames.
  size_t ApproximateBytes() const;
};

struct Table {
  std::vector<Column> columns;
  size_t num_rows = 0;

  // Index of the column named `name`, or -1.
  int Find(std::string_view name) const;
};

}  // namespace mlpipe::table

#endif  // MLPIPE_COMMON_TABLE_TABLE_H_
