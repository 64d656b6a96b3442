// Turning text cells into typed columns: number and timestamp parsing and
// formatting, type inference across blocks, and casts between column types.
#ifndef MLPIPE_COMMON_TABLE_TYPING_H_
#define MLPIPE_COMMON_TABLE_TYPING_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "common/table/table.h"
#include "common/table/text_rows.h"

namespace mlpipe::table {

// A finite decimal number as written in CSV / JSON: optional '-', digits,
// optional fraction and exponent. Leading zeros ("007") and a leading '+' are
// not numbers, so identifiers and codes keep their text.
bool ParseNumber(std::string_view text, double* out);
// The shortest text that parses back to exactly `v`.
void AppendNumber(double v, std::string* out);

// The text layout of ISO 8601 timestamps: "YYYY-MM-DD", optionally followed
// by 'T' or ' ' and "HH:MM", ":SS", a fraction of 1 to 6 digits, and 'Z'.
// Time-zone offsets other than Z are not timestamps (they stay text).
struct TimestampFormat {
  bool has_time = false;
  char separator = 'T';
  bool has_seconds = false;
  int fraction_digits = 0;
  bool zulu = false;

  // strftime-like pattern, e.g. "%Y-%m-%dT%H:%M:%S.%3fZ".
  std::string ToString() const;
  static std::optional<TimestampFormat> FromString(std::string_view pattern);
  bool operator==(const TimestampFormat&) const = default;
};

// Parses `text`; on success stores microseconds since the epoch (UTC) and the
// layout it was written in.
bool ParseTimestamp(std::string_view text, int64_t* micros,
                    TimestampFormat* format);
// ParseTimestamp restricted to one layout: true exactly when ParseTimestamp
// would accept `text` in layout `format` (faster: fixed positions).
bool ParseTimestampIn(std::string_view text, const TimestampFormat& format,
                      int64_t* micros);
void AppendTimestamp(int64_t micros, const TimestampFormat& format,
                     std::string* out);

// Converts `column` to `type`. Numbers and timestamps become their text for
// string types; an all-missing kUnknown column becomes all-missing of any
// type. Other casts (text to number, ...) are FAILED_PRECONDITION.
absl::StatusOr<Column> CastColumn(Column column, ColumnType type,
                                  std::string_view timestamp_format);

// The type of one column as known so far.
struct ColumnTypeState {
  ColumnType type = ColumnType::kUnknown;
  std::string timestamp_format;
  // Fixed types come from an existing schema: a cell that does not fit is an
  // error instead of widening the column to categorical.
  bool fixed = false;
};

// Types the text cells of each block, keeping each column's type across
// blocks of one batch: the first block with values decides (numeric, else
// timestamp, else categorical); a later cell that does not fit widens the
// column to categorical (earlier blocks are cast when read). Not thread-safe.
class ColumnTyper {
 public:
  explicit ColumnTyper(std::vector<std::string> null_values = {});

  // Declares the type of column `name` before any block is typed.
  void Fix(const std::string& name, ColumnType type,
           std::string timestamp_format);

  // Types column `col` of `rows`. FAILED_PRECONDITION, naming the column,
  // the line and the value, when a fixed type does not fit.
  // With copy_strings false, a categorical or text column comes back with
  // its validity but without `strings`: its values are the valid rows'
  // cells in `rows` (to encode them without a copy).
  absl::StatusOr<Column> Type(const TextRows& rows, size_t col,
                              bool copy_strings = true);

  // Checks an already typed column (from a Frame) against the column's type
  // so far and adopts its type when still unknown. FAILED_PRECONDITION when
  // a fixed type differs, INVALID_ARGUMENT when earlier input differs.
  absl::Status Accept(const Column& column);

  const std::map<std::string, ColumnTypeState>& states() const {
    return states_;
  }

 private:
  bool IsNull(std::string_view cell) const {
    return cell.empty() ||
           (!null_values_.empty() && null_values_.contains(std::string(cell)));
  }
  bool TryNumeric(const TextRows& rows, size_t col, Column* out,
                  size_t* bad_row) const;
  bool TryTimestamp(const TextRows& rows, size_t col,
                    std::optional<TimestampFormat> format, Column* out,
                    size_t* bad_row) const;
  void AsStrings(const TextRows& rows, size_t col, bool copy,
                 Column* out) const;

  std::unordered_set<std::string> null_values_;
  std::map<std::string, ColumnTypeState> states_;
};

}  // namespace mlpipe::table

#endif  // MLPIPE_COMMON_TABLE_TYPING_H_
