#include "common/util/memory.h"

#include <malloc.h>

namespace mlpipe {

void KeepLargeBlocksInHeap() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  // One arena: a thread's other arenas are chains of 64 MiB heaps that glibc
  // unmaps as soon as one is free, so a worker that allocates and frees a
  // 10 MiB buffer per boosting round faulted it in afresh every round (a
  // third more time for a whole fit, on some runs and not others).
  mallopt(M_ARENA_MAX, 1);
}

}  // namespace mlpipe
