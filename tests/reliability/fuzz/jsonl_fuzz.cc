// JSON lines as ingest reads them (services/ingest/upload.cc): the streaming
// parser fed in pieces, blocks checked as UTF-8, typed and encoded as stored.
#include "common/table/jsonl.h"
#include "tests/reliability/fuzz/fuzz_target.h"
#include "tests/reliability/fuzz/text_fuzz.h"

using mlpipe::table::JsonLinesOptions;
using mlpipe::table::JsonLinesParser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = mlpipe::fuzz::AsText(data, size);
  JsonLinesOptions options;
  options.block.rows = 4;  // Types decided on one block, widened by later.
  mlpipe::fuzz::ParseCutAnywhere<JsonLinesParser>(options, text);
  return 0;
}
