// Streaming JSON lines: one flat JSON object per line. Keys become columns in
// the order they first appear; a row without a key has a missing cell there.
// Strings, numbers and booleans become cell text (typed later like CSV
// cells); null is missing; nested objects and arrays are an error.
#ifndef MLPIPE_COMMON_TABLE_JSONL_H_
#define MLPIPE_COMMON_TABLE_JSONL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "common/table/text_rows.h"

namespace mlpipe::table {

struct JsonLinesOptions {
  BlockLimits block;                 // When rows are handed over.
  size_t max_line_bytes = 64 << 20;  // Longer lines are an error. 64 MiB.
};

// Not thread-safe. Errors are INVALID_ARGUMENT and name the line (and field).
class JsonLinesParser {
 public:
  JsonLinesParser(JsonLinesOptions options, TextRowsSink sink);

  absl::Status Feed(std::string_view data);
  absl::Status Finish();
  int64_t rows_read() const { return rows_read_; }

 private:
  absl::Status ParseLine(std::string_view line);

  JsonLinesOptions options_;
  TextRowsSink sink_;
  TextRows rows_;
  std::unordered_map<std::string, size_t> columns_;
  std::string partial_;
  int64_t line_ = 0;
  int64_t rows_read_ = 0;
  absl::Status error_;
};

}  // namespace mlpipe::table

#endif  // MLPIPE_COMMON_TABLE_JSONL_H_
