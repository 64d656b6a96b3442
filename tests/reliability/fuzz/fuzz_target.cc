#include "tests/reliability/fuzz/fuzz_target.h"

#include <fstream>
#include <sstream>

#include "google/protobuf/stubs/logging.h"

namespace mlpipe::fuzz {
namespace {

// Protobuf logs every string field that is not UTF-8 it parses: most
// mutated inputs. Silenced, so that the runs measure the decoders.
const bool quiet = [] {
  google::protobuf::SetLogHandler(nullptr);
  return true;
}();

}  // namespace

std::string CorpusFile(const std::string& name) {
  const std::string path = std::string(MLPIPE_FUZZ_DIR) + "/corpus/" + name;
  std::ifstream in(path, std::ios::binary);
  Check(in.good(), "cannot read " + path);
  std::stringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace mlpipe::fuzz
