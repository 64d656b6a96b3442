// jemalloc's options for the mlpipe binaries (linked with mlpipe::allocator).
// jemalloc reads this symbol at start-up; MALLOC_CONF in the environment
// still overrides it.
//
// Freed pages stay with the process instead of going back to the kernel
// over time (the decays) or at once (allocations past oversize_threshold,
// 8 MiB, otherwise come from an arena that unmaps them when freed). Services
// move data in multi-megabyte blocks; returning them made every block fault
// its pages in afresh (about 10 us per 4 KiB page on a virtual machine):
// bench/prep's fit + apply took 4.1-4.5 s instead of 2.2 s. The price is
// that a process keeps its high-water mark, as glibc malloc held to one
// arena did before (every service streams in bounded chunks).
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0";
}
