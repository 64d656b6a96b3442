// Streaming CSV (RFC 4180): quoted fields, doubled quotes, embedded newlines,
// LF / CRLF / CR line ends, a configurable delimiter, optional header. Input
// arrives in pieces of any size; complete rows are handed over in blocks.
#ifndef MLPIPE_COMMON_TABLE_CSV_H_
#define MLPIPE_COMMON_TABLE_CSV_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/table/text_rows.h"

namespace mlpipe::table {

struct CsvOptions {
  char delimiter = ',';  // Default ','.
  bool header = true;    // First record names the columns. Default true.
  BlockLimits block;     // When rows are handed over.
  // A single record longer than this is an error (guards memory against a
  // missing closing quote). Default 64 MiB.
  size_t max_record_bytes = 64 << 20;
};

// Not thread-safe. Errors are INVALID_ARGUMENT and name the line.
class CsvParser {
 public:
  CsvParser(CsvOptions options, TextRowsSink sink);

  // Parses the next piece of input.
  absl::Status Feed(std::string_view data);
  // Ends the input: the last record may lack a line end. Hands over the last
  // (partial) block. An empty input is an error; a header alone is not.
  absl::Status Finish();

  // Column names (known once the first record has been read).
  const std::vector<std::string>& column_names() const { return rows_.names(); }
  int64_t rows_read() const { return rows_read_; }

 private:
  enum class State {
    kRecordStart,
    kFieldStart,
    kUnquoted,
    kQuoted,
    kQuoteInQuoted,
    kAfterCR
  };
  // Input bytes are appended to the rows' arena as they come and scanned
  // there; a cell is a view of its bytes in place (a quoted field's doubled
  // quotes are undone in place). Positions below are arena offsets.
  absl::Status Scan(size_t pos);
  // Ends the current field: `length` bytes at field_start_.
  void EndField(size_t length) {
    if (header_done_ && field_index_ < rows_.num_columns()) [[likely]] {
      rows_.AddCell(field_index_, static_cast<uint32_t>(field_start_),
                    static_cast<uint32_t>(length));
    } else {
      EndOtherField(length);
    }
    ++field_index_;
  }
  void EndOtherField(size_t length);  // A header's or an extra field.
  // Ends the current record, whose line end ends just before `*pos`, and
  // hands a full block over (the unscanned rest of the arena then moves to
  // the new arena's start, and `*pos` to 0).
  absl::Status EndRecord(size_t* pos);
  absl::Status TakeColumns();
  absl::Status HandOver(size_t* pos);

  CsvOptions options_;
  TextRowsSink sink_;
  TextRows rows_;
  State state_ = State::kRecordStart;
  bool header_done_ = false;
  std::vector<TextRows::Cell> first_record_;  // Its cells, until typed.
  size_t field_start_ = 0;   // Where the current field's value starts.
  size_t write_ = 0;         // Where a quoted field's next byte goes.
  size_t record_start_ = 0;  // Where the current record starts.
  size_t field_index_ = 0;
  int64_t line_ = 1;
  int64_t record_line_ = 1;
  int64_t quote_line_ = 1;
  int64_t rows_read_ = 0;
  bool saw_input_ = false;
  std::string tail_;  // Scratch: unscanned bytes moved over at a hand-over.
  absl::Status error_;
};

// Appends `text` as one CSV field: quoted (with doubled quotes) when it holds
// the delimiter, a quote, a line end, or leading / trailing spaces; `""` for
// an empty string, so that it differs from a missing cell (written as
// nothing).
void AppendCsvField(std::string_view text, char delimiter, std::string* out);

}  // namespace mlpipe::table

#endif  // MLPIPE_COMMON_TABLE_CSV_H_
