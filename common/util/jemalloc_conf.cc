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
// allocations still come from per-thread caches.
//
// Freed pages stay dirty for about 10 s (dirty_decay_ms), then go back to
// the kernel (MADV_DONTNEED: muzzy_decay_ms 0), and jemalloc's memory is
// never backed by transparent huge pages (thp:never, whatever the kernel's
// THP mode). Both to keep a long-running server's RSS flat: with huge pages
// (thp:always) khugepaged collapses the ranges jemalloc had returned back
// into resident 2 MiB pages (max_ptes_none 511 by default), and with
// MADV_FREE ("muzzy" pages kept until memory pressure) the returned pages
// stay in RSS too; either way the scoring server under the soak load
// (tests/reliability/soak_test.cc) rose without end while jemalloc's own
// resident bytes stayed flat: 95 -> 147 MiB over 10 min, 4 MiB/min still at
// the end (2026-12-05, thp:always + muzzy -1); thp:never + muzzy -1: +24 MiB
// in 4 min, all of it LazyFree. With thp:never + muzzy 0: 72-84 MiB, slope
// -0.07 MiB/min over 180 s. On this kernel (6.18) neither costs speed:
// bench/ingest 0.634-0.690 s either way (best 0.634 vs 0.633 s); bench/prep
// (statistics + fit + apply) 1.40-1.43 s (thp:always, muzzy -1: 1.93-1.98 s);
// GBDT training (bench/train, 1M rows) within its run-to-run noise.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "dirty_decay_ms:10000,muzzy_decay_ms:0,oversize_threshold:0,thp:never,"
    "narenas:1";
}
