// What the CSV and JSON-lines targets share: an input parsed as an upload
// parses it (fed in pieces, each block checked as UTF-8, typed across blocks
// and encoded as the stored column), and the property that the rows do not
// depend on where the input was cut into pieces.
#ifndef MLPIPE_TESTS_RELIABILITY_FUZZ_TEXT_FUZZ_H_
#define MLPIPE_TESTS_RELIABILITY_FUZZ_TEXT_FUZZ_H_

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/table/text_rows.h"
#include "common/table/typing.h"

namespace mlpipe::fuzz {

// What a parser made of one input.
struct ParsedText {
  std::vector<std::string> names;                              // Last block's.
  std::vector<std::vector<std::optional<std::string>>> cells;  // By row.
  bool ok = true;
  bool operator==(const ParsedText&) const = default;
};

// Records a block's cells in `out`, then stores it as an upload does: UTF-8
// checked, each column typed and encoded as a stored block, which must
// decode again.
absl::Status AcceptBlock(table::TextRows& rows, table::ColumnTyper* typer,
                         ParsedText* out);

// `input` through a Parser (CsvParser, JsonLinesParser) fed `piece` bytes
// at a time. REQUIRES: piece > 0.
template <typename Parser, typename Options>
ParsedText ParseInPieces(const Options& options, std::string_view input,
                         size_t piece) {
  ParsedText out;
  table::ColumnTyper typer;
  Parser parser(options, [&](table::TextRows& rows) {
    return AcceptBlock(rows, &typer, &out);
  });
  absl::Status s;
  for (size_t at = 0; s.ok() && at < input.size(); at += piece)
    s = parser.Feed(input.substr(at, piece));
  if (s.ok()) s = parser.Finish();
  out.ok = s.ok();
  return out;
}

// Parses `input` whole and cut into pieces of 1 to 7 bytes, which must give
// the same rows; returns them.
template <typename Parser, typename Options>
ParsedText ParseCutAnywhere(const Options& options, std::string_view input) {
  const ParsedText whole =
      ParseInPieces<Parser>(options, input, std::max<size_t>(input.size(), 1));
  const ParsedText pieces =
      ParseInPieces<Parser>(options, input, 1 + input.size() % 7);
  if (!(whole == pieces)) {
    std::fprintf(stderr, "fuzz: rows depend on where the input was cut\n");
    std::abort();
  }
  return whole;
}

}  // namespace mlpipe::fuzz

#endif  // MLPIPE_TESTS_RELIABILITY_FUZZ_TEXT_FUZZ_H_
