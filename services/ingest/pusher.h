// Streaming push: rows sent one message at a time by producers, made durable
// by group commit, deduplicated by (producer, sequence), and turned into
// ordinary dataset versions by compaction. No gRPC here.
//
// The path of a message:
//   PushSession::Add   checks its rows against the dataset's schema (the
//                      error names the sequence, row and column), puts them
//                      in the dataset's column order, and queues it;
//   committer thread   every commit_interval, or once commit_rows rows are
//                      queued, appends what is queued to the push log
//                      (storage::SegmentLog, <data dir>/ingest-push) in one
//                      call, syncs it (fdatasync of the pages written), and
//                      only then acknowledges each producer's highest
//                      sequence;
//   compactor thread   every compact_interval, or once compact_rows rows
//                      wait, or on Flush: for each dataset, one upload
//                      (Ingestor::BeginUpload, FRAMES, APPEND) of its pushed
//                      rows, a normal columnar batch and version; then the
//                      log is trimmed.
//
// Exactly once: a producer's messages carry increasing sequence numbers; one
// not above the producer's last queued sequence was stored before and is
// acknowledged without being stored again. The marks are rebuilt at start
// from the store (push column family, written before each compaction) and the
// log's records not compacted yet. A compaction writes its plan (which log
// records, the producers' marks) before its uploads, each of which carries
// the idempotency key "push:<from>-<to>": after a crash the same plan is
// carried out again, and the uploads that had committed are not stored twice.
//
// Store (column family "push"):
//   "plan"                    -> "<from> <to>" (a compaction under way)
//   "compacted"               -> "<to>": log records below it are in versions
//   "m/<dataset>\0<producer>" -> "<sequence>" (the producer's mark)
#ifndef MLPIPE_SERVICES_INGEST_PUSHER_H_
#define MLPIPE_SERVICES_INGEST_PUSHER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/segment_log.h"
#include "common/storage/store.h"
#include "common/table/table.h"
#include "mlpipe/v1/ingest_service.pb.h"
#include "services/ingest/ingestor.h"
#include "services/ingest/ingestor_internal.h"

namespace mlpipe::ingest {

struct PushOptions {
  // Behaviour --------------------------------------------------------------
  // A group commit happens this long after the first message waiting, or
  // as soon as commit_rows rows wait. Default 5 ms, 4,096 rows.
  std::chrono::microseconds commit_interval{5000};
  size_t commit_rows = 4096;
  // Pushed rows become a dataset version this often, or once compact_rows
  // rows wait. Default 1 minute, 1,048,576 rows.
  std::chrono::milliseconds compact_interval{60000};
  int64_t compact_rows = 1 << 20;
  // Rows of one compaction's version, at most (one message's rows always
  // fit). Default 4,194,304.
  int64_t max_compact_rows = 1 << 22;
  // fdatasync each group commit (durable against a machine crash); without
  // it acknowledged rows survive kill -9 only. Default true.
  bool sync = true;
  // Bounds ------------------------------------------------------------------
  // Bytes of one stream's messages not yet durable before the stream stops
  // reading (the producer's writes then wait: gRPC flow control), and of
  // all streams' together. Default 8 MiB, 64 MiB.
  size_t window_bytes = 8 << 20;
  size_t max_queued_bytes = 64 << 20;
  // Streams open at once, and producers remembered; past either a new
  // stream is refused (RESOURCE_EXHAUSTED). Default 256, 100,000.
  size_t max_streams = 256;
  size_t max_producers = 100000;
  // The push log's files together, at most (past it, commits wait for a
  // compaction); the size of one file; the disk reserve. Default 1 GiB,
  // 64 MiB, 0.
  uint64_t log_max_bytes = uint64_t{1} << 30;
  size_t segment_bytes = 64 << 20;
  uint64_t min_free_bytes = 0;
  // How long a commit waits for room in the log before it fails.
  std::chrono::milliseconds full_log_wait{30000};
  // Test hook: a compaction stops after its uploads, as if the process
  // died before it recorded them done.
  bool TEST_stop_before_done = false;
  // Test hook: called before each group commit's sync.
  std::function<void()> TEST_before_sync;
};

// What a stream is told.
struct PushAck {
  int64_t acked = 0;       // The producer's highest durable sequence.
  int64_t duplicates = 0;  // The stream's messages stored before.
  int64_t rows = 0;        // The stream's rows made durable.
};

// Callbacks of one stream, called from the committer thread (never with a
// lock of the pusher held). After PushSession::Close returns, neither is
// called again.
struct PushListener {
  std::function<void(const PushAck&)> ack;
  // The stream is over: another stream of its producer opened (ABORTED),
  // its messages could not be stored, or the server stops (UNAVAILABLE).
  std::function<void(const absl::Status&)> end;
};

class Pusher;

// One producer's stream. Add is for one thread at a time.
class PushSession {
 public:
  ~PushSession();  // Close().
  PushSession(const PushSession&) = delete;
  PushSession& operator=(const PushSession&) = delete;

  // The producer's highest durable sequence when the stream opened, once
  // known (nullopt while an earlier stream's messages are being committed:
  // the first ack tells it then).
  std::optional<int64_t> resume_after() const { return resume_after_; }
  // Checks and queues one message. INVALID_ARGUMENT naming the sequence,
  // row and column when its rows do not fit the dataset; a sequence not
  // above the last one queued is a duplicate (true in *duplicate; the ack
  // then comes with the next ack, or at once in *ack_now when it is
  // durable already).
  absl::Status Add(int64_t sequence, v1::Frame frame, bool* duplicate,
                   std::optional<PushAck>* ack_now);
  // The same for JSON lines.
  absl::Status AddJsonLines(int64_t sequence, std::string_view lines,
                            bool* duplicate, std::optional<PushAck>* ack_now);
  // Whether the stream should stop reading until its next ack (its own or
  // every stream's queued bytes are past their bound).
  bool ShouldWait() const;
  // Bytes of the stream's messages queued and not yet durable.
  size_t Unacked() const;
  // Detaches the listener; waits for a callback running on it.
  void Close();

  struct State;  // Shared with the committer.

 private:
  friend class Pusher;
  PushSession(Pusher* pusher, std::shared_ptr<State> state,
              std::optional<int64_t> resume_after)
      : pusher_(pusher),
        state_(std::move(state)),
        resume_after_(resume_after) {}
  // Checks a message's rows (or why they could not be read) and queues
  // them as a log record.
  absl::Status Queue(int64_t sequence, absl::StatusOr<table::Table> rows,
                     bool* duplicate, std::optional<PushAck>* ack_now);

  Pusher* const pusher_;
  const std::shared_ptr<State> state_;
  const std::optional<int64_t> resume_after_;
};

// Thread-safe.
class Pusher {
 public:
  // Opens the push log in `dir`, finishes a compaction a crash interrupted,
  // rebuilds the producers' marks, and starts the committer and compactor.
  // `ingestor` and `store` (with the "push" column family) are not owned.
  static absl::StatusOr<std::unique_ptr<Pusher>> Open(PushOptions options,
                                                      const std::string& dir,
                                                      Ingestor* ingestor,
                                                      storage::Store* store);
  ~Pusher();  // Stop().

  // Opens a stream. NOT_FOUND for an unknown dataset, INVALID_ARGUMENT for
  // a bad producer name or format, RESOURCE_EXHAUSTED past max_streams or
  // max_producers, UNAVAILABLE once stopping. A stream of the same
  // producer that is still open is ended (ABORTED).
  absl::StatusOr<std::unique_ptr<PushSession>> OpenSession(
      const v1::PushOpen& open, PushListener listener);

  // Commits every message received so far, then compacts every pushed row
  // durable into dataset versions now.
  absl::Status Flush();
  // Rows of `dataset` that are durable and not yet in a version.
  int64_t PendingRows(const std::string& dataset) const;

  // The records of `dataset` committed after log position `after` (0: from
  // the oldest not compacted), up to about `max_bytes`, waiting up to `wait`
  // for one to commit (none then: a heartbeat). UNAVAILABLE once stopping.
  // A record is passed once appended to the log, before the sync its
  // acknowledgement waits for: what reads it (the online store) does not
  // wait for the disk. It survives kill -9 from then on; after a machine
  // crash it may be gone (never acknowledged: its producer sends it again),
  // and its position is never given to another record.
  absl::Status ReadPushed(const std::string& dataset, int64_t after,
                          std::chrono::milliseconds wait, size_t max_bytes,
                          v1::PushedRows* out);

  // Commits what is queued, ends every stream (UNAVAILABLE) and stops the
  // threads. Idempotent.
  void Stop();

 private:
  friend class PushSession;
  struct Producer {
    int64_t durable = 0;  // Highest sequence in the log.
    int64_t queued = 0;   // Highest sequence queued or in the log.
    std::shared_ptr<PushSession::State> owner;  // Its open stream, if any.
  };
  struct Queued {
    std::string record;  // The log record.
    std::string producer_key;
    int64_t sequence = 0;
    int64_t rows = 0;
    size_t bytes = 0;                          // The record's.
    std::chrono::steady_clock::time_point at;  // When it came.
    std::shared_ptr<PushSession::State> session;
  };
  Pusher(PushOptions options, Ingestor* ingestor, storage::Store* store,
         std::unique_ptr<storage::SegmentLog> log)
      : options_(std::move(options)),
        ingestor_(ingestor),
        store_(store),
        log_(std::move(log)) {}
  absl::Status Recover();
  // Queues a checked message of `session`'s producer (see PushSession::Add).
  absl::Status Enqueue(const std::shared_ptr<PushSession::State>& session,
                       int64_t sequence, std::string record, bool* duplicate,
                       std::optional<PushAck>* ack_now);
  void CloseSession(const std::shared_ptr<PushSession::State>& session);
  void CommitLoop();
  // Appends and syncs `batch`; then acks or ends the streams it came from.
  void Commit(std::vector<Queued> batch);
  // Appends `records`, waiting for a compaction while the log is full.
  absl::Status AppendWaiting(const std::vector<std::string>& records);
  // Reserves the log positions the next `records` records take (reserved_).
  absl::Status Reserve(size_t records);
  // Undoes the queued marks of `batch`'s producers and drops what else of
  // theirs is queued; the streams are ended with `why`.
  void Abandon(const std::vector<Queued>& batch, const absl::Status& why);
  void CompactLoop();
  // Compacts the log records in [from, to) (a plan already written).
  absl::Status CarryOut(uint64_t from, uint64_t to);
  // Compacts what is durable now, in versions of at most max_compact_rows.
  absl::Status CompactNow();
  // Writes the plan for the log records [from, to), then carries it out.
  absl::Status CompactRange(uint64_t from, uint64_t to);
  // Adds the rows of `dataset` in [from, to) as one upload.
  absl::Status CompactDataset(const std::string& dataset, uint64_t from,
                              uint64_t to, int64_t* rows);

  const PushOptions options_;
  Ingestor* const ingestor_;
  storage::Store* const store_;
  const std::unique_ptr<storage::SegmentLog> log_;

  mutable std::mutex mu_;
  std::condition_variable commit_cv_, compact_cv_, flushed_cv_;
  bool stopping_ = false;                                // GUARDED_BY(mu_)
  std::unordered_map<std::string, Producer> producers_;  // GUARDED_BY(mu_)
  std::vector<std::string> dirty_producers_;             // GUARDED_BY(mu_)
  std::vector<Queued> queue_;                            // GUARDED_BY(mu_)
  size_t queue_rows_ = 0, queued_bytes_ = 0;             // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point queue_since_;    // GUARDED_BY(mu_)
  size_t streams_ = 0;                                   // GUARDED_BY(mu_)
  std::map<std::string, int64_t> pending_rows_;          // GUARDED_BY(mu_)
  int64_t uncompacted_rows_ = 0;                         // GUARDED_BY(mu_)
  uint64_t synced_next_ = 1;    // Log records below it are durable.
  uint64_t appended_next_ = 1;  // Below it: appended. GUARDED_BY(mu_)
  // Log positions below it may have been given (in the store): the log
  // skips to it at a start, so a position read before a machine crash took
  // the unsynced tail never names another record. Committer only.
  uint64_t reserved_ = 0;
  uint64_t compacted_ = 1;  // Below it: in versions. GUARDED_BY(mu_)
  uint64_t flush_asked_ = 0, flush_done_ = 0;  // GUARDED_BY(mu_)
  // Messages queued, and committed or given up, since the start.
  uint64_t enqueued_ = 0, resolved_ = 0;  // GUARDED_BY(mu_)
  bool commit_now_ = false;               // Flush waits. GUARDED_BY(mu_)
  absl::Status flush_result_;             // GUARDED_BY(mu_)
  std::condition_variable committed_cv_;  // appended_next_ moved.
  std::mutex compact_mu_;                 // One compaction at a time.
  // Held shared while ReadPushed reads the log, exclusively while the
  // compactor trims it (its own reads come before its trims).
  std::shared_mutex trim_mu_;
  std::thread committer_, compactor_;
};

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_PUSHER_H_
