#include "common/util/hash.h"

#include <cstring>

namespace mlpipe {

uint64_t StableHash(double value) {
  if (value == 0) value = 0;  // -0.0 -> 0.0
  uint64_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return SplitMix64(bits ^ 0x5bd1e9955bd1e995ULL);
}

}  // namespace mlpipe
