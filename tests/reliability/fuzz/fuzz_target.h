// What the fuzz targets share: checks of properties that must hold for every
// input (a failed one aborts, which both libFuzzer and the GoogleTest driver
// report with the input), and access to files beside the targets.
#ifndef MLPIPE_TESTS_RELIABILITY_FUZZ_FUZZ_TARGET_H_
#define MLPIPE_TESTS_RELIABILITY_FUZZ_FUZZ_TARGET_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace mlpipe::fuzz {

// Aborts, printing `what`, unless `ok`.
inline void Check(bool ok, std::string_view what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz: property failed: %.*s\n",
               static_cast<int>(what.size()), what.data());
  std::abort();
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The bytes of corpus/<name> (a fixed input a target builds on, e.g. the
// model that predict_fuzz scores with); aborts when it cannot be read.
std::string CorpusFile(const std::string& name);

}  // namespace mlpipe::fuzz

#endif  // MLPIPE_TESTS_RELIABILITY_FUZZ_FUZZ_TARGET_H_
