// A seeded, coverage-blind input mutator for the fuzz targets' GoogleTest
// driver (fuzz_main.cc): libFuzzer's kinds of byte-level mutations (bit
// flips, inserts, erasures, copies, splices of two corpus inputs) plus
// values that break decoders: 0xFF runs, huge varints, and protobuf length
// fields rewritten to lie about what follows. The same seed gives the same
// inputs, so a failing run can be repeated.
#ifndef MLPIPE_TESTS_RELIABILITY_FUZZ_MUTATOR_H_
#define MLPIPE_TESTS_RELIABILITY_FUZZ_MUTATOR_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace mlpipe::fuzz {

// Not thread-safe.
class Mutator {
 public:
  // REQUIRES: !corpus.empty(). Inputs grow to at most `max_size` bytes.
  Mutator(uint64_t seed, std::vector<std::string> corpus,
          size_t max_size = 64 << 10);

  // The next input: a corpus input or the previous output, mutated 1 to 8
  // times.
  std::string Next();

 private:
  void MutateOnce(std::string* s);
  void FlipBit(std::string* s);
  void SetByte(std::string* s);
  void InsertBytes(std::string* s);
  void EraseBytes(std::string* s);
  void CopyRange(std::string* s);
  void Splice(std::string* s);
  void InsertInteresting(std::string* s);
  void RewriteLength(std::string* s);
  size_t Below(size_t n) { return n == 0 ? 0 : rng_() % n; }

  std::mt19937_64 rng_;
  const std::vector<std::string> corpus_;
  const size_t max_size_;
  std::string last_;
};

}  // namespace mlpipe::fuzz

#endif  // MLPIPE_TESTS_RELIABILITY_FUZZ_MUTATOR_H_
