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
//
// One arena for all threads (jemalloc's default is four per core): memory
// one thread frees is reused by the next that asks, instead of each arena
// keeping its own freed pages and the next faulting in fresh ones; small
// allocations still come from per-thread caches. And the memory is backed
// by transparent huge pages where the kernel offers them on request
// (Debian's default, THP "madvise"): fresh memory faults once per 2 MiB, not
// once per 4 KiB. A cold server's first 3M-row ingest (bench/ingest) faulted
// 40,000 times, about a quarter of its CPU time: 1.12 s and 205-225 MB peak
// RSS before; huge pages alone 0.93 s but 250-273 MB; both 0.69-0.84 s and
// 156-160 MB. (Predict throughput, bench/score: 15,342/s, was 14,130/s.)
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "dirty_decay_ms:-1,muzzy_decay_ms:-1,oversize_threshold:0,thp:always,"
    "narenas:1";
}
