// CSV as ingest reads it (services/ingest/upload.cc): the streaming parser
// fed in pieces, blocks checked as UTF-8, typed and encoded as stored; also
// without a header with another delimiter, and the bytes read as Latin-1.
#include "common/table/csv.h"
#include "common/table/utf8.h"
#include "tests/reliability/fuzz/fuzz_target.h"
#include "tests/reliability/fuzz/text_fuzz.h"

using mlpipe::fuzz::ParseInPieces;
using mlpipe::table::CsvOptions;
using mlpipe::table::CsvParser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = mlpipe::fuzz::AsText(data, size);
  CsvOptions options;
  options.block.rows = 4;  // Types decided on one block, widened by later.
  mlpipe::fuzz::ParseCutAnywhere<CsvParser>(options, text);
  options.header = false;
  options.delimiter = ';';
  ParseInPieces<CsvParser>(options, text, 64);
  std::string utf8;
  mlpipe::table::AppendLatin1AsUtf8(text, &utf8);
  ParseInPieces<CsvParser>(CsvOptions(), utf8, 4096);
  return 0;
}
