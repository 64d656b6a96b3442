// An append-only log of records in memory-mapped segment files: an append
// is a copy into a shared file mapping under a mutex, no system call, and
// once Append returns the records are in the kernel's page cache, so they
// survive kill -9 of the process (not a machine crash: nothing is fsynced,
// as with RocksDB's write-ahead log without sync). A consumer reads them in
// order and trims what it has taken; Trim's position is kept on disk too, so
// a restart resumes after it. For a queue that every request appends to
// (the prediction log): RocksDB would cost a write(2) and a memtable insert
// per append, and a flush and compaction of what is deleted a second later.
//
// Files in the directory:
//   <first sequence, 20 digits>.seg  "mlpseg1\n", the first sequence (u64
//       little-endian), then records: payload length + 1 (u32; 0 ends the
//       segment), CRC-32 of the sequence, that word and the payload (u32),
//       the payload. A call's records are written one by one: after kill -9
//       the first ones of a call never answered may be there. Space is
//       reserved with fallocate when the segment is made (a full disk is an
//       error then, never a SIGBUS on a write); unused space is zero.
//   trim  the sequence below which records were consumed (u64) and its
//       CRC-32.
// Opening scans each segment up to its first record that does not check
// (a copy cut by kill -9: it was never acknowledged); the segments found are
// read-only from then on, and appends start a new one. gRPC-free.
#ifndef MLPIPE_COMMON_STORAGE_SEGMENT_LOG_H_
#define MLPIPE_COMMON_STORAGE_SEGMENT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mlpipe::storage {

struct SegmentLogOptions {
  // Bytes per segment file (more for a single append that needs more).
  size_t segment_bytes = 16 << 20;
  // The segment files together, at most: past it Append fails.
  uint64_t max_bytes = 256 << 20;
  // Records not trimmed, at most: past it Append fails.
  uint64_t max_records = UINT64_MAX;
  // A segment is not made when it would leave the disk with less free space
  // (the stores' reserve, storage::Options::min_free_bytes). 0: no reserve.
  uint64_t min_free_bytes = 0;
};

// Append and Read are thread-safe; Trim must not pass records a Read in
// progress is reading (the consumer orders them).
class SegmentLog {
 public:
  // Opens the log in `dir`, creating it when absent. One log per directory
  // at a time: FAILED_PRECONDITION while another (in this process or
  // another) has it open.
  static absl::StatusOr<std::unique_ptr<SegmentLog>> Open(
      const std::string& dir, SegmentLogOptions options = {});
  ~SegmentLog();
  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // Appends `records` in order, with consecutive sequences; the first one's.
  // RESOURCE_EXHAUSTED past max_records or max_bytes, or when the disk is
  // full; nothing of the call is appended then.
  absl::StatusOr<uint64_t> Append(const std::vector<std::string>& records);

  // Calls `fn` with the records from sequence `from` on (the first kept one
  // when `from` is below it), in order, at most `max` of them; returns the
  // sequence to read from next (past a gap left by a damaged segment too).
  // The views are valid until Trim passes them.
  uint64_t Read(uint64_t from, size_t max,
                const std::function<void(uint64_t, std::string_view)>& fn) {
    return Read(from, max, SIZE_MAX, fn);
  }
  // The same, stopping before a record that would take the payloads past
  // `max_bytes` (the first one is always passed).
  uint64_t Read(uint64_t from, size_t max, size_t max_bytes,
                const std::function<void(uint64_t, std::string_view)>& fn);
  // Records below `sequence` are consumed: remembered on disk, and the
  // segments holding only such records (but the one appended to) deleted.
  absl::Status Trim(uint64_t sequence);
  // Makes what was appended so far durable against a machine crash too
  // (msync of the pages written since the last Sync, and of the directory
  // when a segment was made). For one thread at a time.
  absl::Status Sync();
  // Faults in the pages appends will write next, and makes the segment
  // after the one appended to ahead of need (named when it is taken), off
  // the appenders' path: a page fault inside Append holds the mutex every
  // other appender waits for. For the consumer, between reads; cheap when
  // there is nothing to do.
  void Prepare();

  // Sequences below `sequence` are never given: the next record gets it,
  // in a segment of its own, and a Read passes the gap. For a log read
  // before its records are synced: after a machine crash takes the unsynced
  // tail, its sequences must not name other records. No-op at or below
  // next(). The skipped sequences count against max_records until trimmed.
  void SkipTo(uint64_t sequence);

  uint64_t next() const;     // The sequence the next record gets.
  uint64_t trimmed() const;  // Below it: consumed.
  uint64_t bytes() const;    // The segment files' size together.
  // Segments found damaged when opening (none after kill -9): what
  // followed the damage in them is lost.
  uint64_t damaged() const { return damaged_; }

 private:
  struct Segment {
    std::string path;
    char* base = nullptr;  // The mapping, `size` bytes.
    size_t size = 0;
    size_t end = 0;      // Bytes used (header included).
    uint64_t first = 0;  // Sequence of its first record.
    uint64_t count = 0;  // Records in it.
    size_t synced = 0;   // Bytes made durable by Sync.
  };
  SegmentLog(std::string dir, SegmentLogOptions options);
  absl::Status Recover();
  // Maps an existing segment and finds its records; false when it holds
  // none (it is deleted then); an error when it cannot be read (Open fails,
  // the file stays).
  absl::StatusOr<bool> Load(const std::string& path, Segment* s);
  // A new segment of at least `bytes`, its first record `first`.
  // REQUIRES: mu_.
  absl::Status AddSegment(size_t bytes, uint64_t first);
  // A file of `bytes` reserved and mapped at `path`.
  absl::StatusOr<Segment> MakeFile(const std::string& path, size_t bytes);
  static void Drop(Segment& s);  // Unmaps and deletes.

  const std::string dir_;
  const SegmentLogOptions options_;
  mutable std::mutex mu_;
  // Front removed by Trim only, back added by Append only: a reader's
  // reference to an element stays valid. GUARDED_BY(mu_)
  std::deque<Segment> segments_;
  bool appendable_ = false;  // The back one takes appends. GUARDED_BY(mu_)
  bool populated_ = false;   // Its pages are faulted in. GUARDED_BY(mu_)
  // Made by Prepare, taken by the next segment Append needs.
  std::unique_ptr<Segment> spare_;  // GUARDED_BY(mu_)
  uint64_t next_ = 1;               // GUARDED_BY(mu_)
  uint64_t bytes_ = 0;              // GUARDED_BY(mu_)
  uint64_t trimmed_ = 1;            // GUARDED_BY(mu_)
  uint64_t damaged_ = 0;
  bool dir_synced_ = true;  // No segment made since Sync. GUARDED_BY(mu_)
  std::mutex sync_mu_;      // One Sync at a time.
  int trim_fd_ = -1;
  // Where the consumer's last Read stopped: sequence, segment, offset.
  std::mutex cursor_mu_;
  uint64_t cursor_seq_ = 0, cursor_first_ = 0;  // GUARDED_BY(cursor_mu_)
  size_t cursor_offset_ = 0;                    // GUARDED_BY(cursor_mu_)
};

}  // namespace mlpipe::storage

#endif  // MLPIPE_COMMON_STORAGE_SEGMENT_LOG_H_
