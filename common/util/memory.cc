#include "common/util/memory.h"

#include <malloc.h>

namespace mlpipe {

void KeepLargeBlocksInHeap() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace mlpipe
