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
// Freed pages stay dirty for at most about 10 s (dirty_decay_ms), then go
// back to the kernel (MADV_DONTNEED: muzzy_decay_ms 0), and jemalloc's
// memory is never backed by transparent huge pages (thp:never, whatever the
// kernel's THP mode). Both to keep a long-running server's RSS flat: with huge
// pages (thp:always) khugepaged collapses the ranges jemalloc had returned back
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
//
// A freed extent is reused for any smaller request (lg_extent_max_active_fit
// 30; jemalloc's default 6 only reuses one at most 64 times the request and
// maps fresh pages otherwise), and threads cache blocks up to 128 KiB
// (tcache_max; default 32 KiB) instead of taking the arena's lock for each.
// XGBoost's histogram method allocates and frees blocks of that size on
// both OpenMP threads every round: with the defaults its boosting ran
// 10-25% slower under jemalloc than under glibc malloc, one thread faulting
// pages in while the other spun at the barrier (kernel samples 13% vs
// 1.5%). Measured 2026-12-05 on flights3m (2.4M rows x 44 features, 200
// trees, depth 6, 2 threads): the boosting loop in mlpipe-standalone 22.9 s
// before, 20.9 s after; Python XGBoost (the same Debian library) 18.2 s
// on glibc, 22.4 s with jemalloc's defaults preloaded. bench/prep and
// bench/ingest (speed and peak RSS) unchanged.
//
// Decay is gradual, not a 10 s grace: a large block freed and allocated
// again at once is often returned in between (a 64 MiB block faulted all
// its pages in on every round with dirty_decay_ms 10000; with -1, none from
// the second). Loops that do that hold freed memory while they run
// (util::HoldFreedMemory, common/util/memory.h): a GBDT fit of 2.4M rows
// took 58 s with 20,000 page faults a second, 34-37 s held (2026-12-05).
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf =
    "dirty_decay_ms:10000,muzzy_decay_ms:0,oversize_threshold:0,thp:never,"
    "narenas:1,lg_extent_max_active_fit:30,tcache_max:131072";
}
