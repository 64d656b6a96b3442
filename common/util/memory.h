#ifndef MLPIPE_COMMON_UTIL_MEMORY_H_
#define MLPIPE_COMMON_UTIL_MEMORY_H_

namespace mlpipe {

// Services move data in blocks of megabytes. By default glibc maps each such
// buffer fresh from the kernel and unmaps it when freed, so every block pays
// page faults again (about 10 us per 4 KiB page on a virtual machine). This
// keeps freed blocks in the heap for reuse instead, in one arena shared by
// all threads (malloc contention is the price; small on the few cores a
// service gets). Call once at start-up, before threads start.
void KeepLargeBlocksInHeap();

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_MEMORY_H_
