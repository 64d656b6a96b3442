// jemalloc's options for the mlpipe binaries (linked with mlpipe::allocator).
// jemalloc reads this symbol at start-up; MALLOC_CONF in the environment
// still overrides it.
//
// Freed pages stay with the process for a while instead of going back to
// the kernel at once (allocations past oversize_threshold,
// 8 MiB, otherwise come from an arena that unmaps them when freed). Services
// move data in multi-megabyte blocks; returning them made every block fault
// its pages in afresh (about 10 us per 4 KiB page on a virtual machine):
// bench/prep's fit + apply took 4.1-4.5 s instead of 2.2 s. The price is
// that a process holds its high-water mark of the last seconds (every
// service streams in bounded chunks).
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
//
// Freed pages stay dirty for about 10 s (dirty_decay_ms), then are handed
// back lazily (MADV_FREE: "muzzy", never purged further, muzzy_decay_ms -1),
// so the kernel may take them under pressure and a reuse costs no fault
// otherwise. XGBoost's training, which frees and reallocates large buffers
// every round, ran slowest when nothing ever decayed (2026-12-04, the 3M-row
// GBDT fit of bench/train in the train service, same server and rows, fit
// seconds: dirty/muzzy -1/-1 27.4, 31.5, 37.8; 10 s/0 21.4, 22.9; 10 s/-1
// 24.8, 24.8; Python XGBoost's own training 24.0), and bench/prep wanted
// the pages kept (fit + apply: -1/-1 1.97-2.05 s, 10 s/0 2.32-2.68 s,
// 10 s/-1 1.90-2.00 s): 10 s/-1 serves both.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "dirty_decay_ms:10000,muzzy_decay_ms:-1,oversize_threshold:0,thp:always,"
    "narenas:1";
}
