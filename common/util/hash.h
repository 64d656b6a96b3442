// Hashes that are the same in every process, build and machine (for
// persisted sketches, hashed features and splits that must not change).
#ifndef MLPIPE_COMMON_UTIL_HASH_H_
#define MLPIPE_COMMON_UTIL_HASH_H_

#include <cstdint>
#include <string_view>

namespace mlpipe {

// SplitMix64's step: adds the golden gamma, then mixes (a bijection).
inline uint64_t SplitMix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// FNV-1a, then SplitMix64.
inline uint64_t StableHash(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return SplitMix64(h);
}

// Hash of a number; -0.0 and 0.0 hash alike.
uint64_t StableHash(double value);

// A seeded stream of uniform doubles in [0, 1), the same on every machine
// (SplitMix64 steps). Not thread-safe.
class UniformStream {
 public:
  explicit UniformStream(uint64_t seed) : state_(seed) {}
  double Next() {
    state_ = SplitMix64(state_);
    return static_cast<double>(state_ >> 11) * 0x1.0p-53;
  }

 private:
  uint64_t state_;
};

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_HASH_H_
