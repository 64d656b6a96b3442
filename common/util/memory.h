// Process memory held for reuse while a loop needs it.
#ifndef MLPIPE_COMMON_UTIL_MEMORY_H_
#define MLPIPE_COMMON_UTIL_MEMORY_H_

#include <optional>

namespace mlpipe::util {

// While one is alive, memory the process frees stays with it for reuse
// (jemalloc's dirty page decay paused, in every arena); when the last one
// ends, each arena's decay is what it was, and what is not reused goes back
// to the kernel over the decay time (common/util/jemalloc_conf.cc). For
// loops that free and allocate the same large buffers every round, such as
// XGBoost's boosting: with decay running, jemalloc returned part of them
// between rounds and the next round faulted them in afresh (2.4M rows: 20,000
// page faults a second, the fit 58 s instead of 36 s). In a process without
// jemalloc, nothing. Thread-safe; holds may overlap.
class HoldFreedMemory {
 public:
  HoldFreedMemory();
  ~HoldFreedMemory();
  HoldFreedMemory(const HoldFreedMemory&) = delete;
  HoldFreedMemory& operator=(const HoldFreedMemory&) = delete;
};

// An arena's dirty_decay_ms (jemalloc's mallctl), or nothing without
// jemalloc or such an arena. For tests.
std::optional<long> ArenaDirtyDecayMs(unsigned arena);

}  // namespace mlpipe::util

#endif  // MLPIPE_COMMON_UTIL_MEMORY_H_
