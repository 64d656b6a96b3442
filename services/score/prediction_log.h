// Prediction logging, durable: Predict appends its records to the score
// store's prediction_log (one write-ahead-logged RocksDB write, no fsync,
// before the reply, grouped with concurrent calls' writes: a prediction
// acknowledged to a client survives kill -9 of the process), and a
// background thread ships them in batches, in order, to a sink (the monitoring
// service's LogPredictions, in score_module.cc), deleting what the sink took. A
// sink that fails keeps the records (retried with backoff); records not shipped
// when the process stops are shipped by the next start. The log holds at most
// queue_capacity records: past it new records are dropped and counted.
// Written records are also held in memory (up to memory_bytes, serialized),
// and shipped from there: the store is read only for what memory did not
// hold (a restart, a sink down for long). gRPC-free.
//
// Column family prediction_log: <sequence, 8 bytes big-endian> ->
// v1::PredictionRecord.
#ifndef MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_
#define MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/store.h"
#include "mlpipe/v1/prediction.pb.h"

namespace mlpipe::score {

inline constexpr char kPredictionLog[] = "prediction_log";

class PredictionSink {
 public:
  virtual ~PredictionSink() = default;
  virtual absl::Status Write(const v1::PredictionBatch& batch) = 0;
};

struct PredictionLoggerOptions {
  size_t queue_capacity = 100000;  // Records not yet shipped; more dropped.
  size_t batch_records = 1000;     // Records per sink write, at most.
  std::chrono::milliseconds flush_interval{200};   // Longest wait to ship.
  std::chrono::milliseconds retry_interval{1000};  // After a sink error.
  // Written, unshipped records held in memory to ship without reading the
  // store, in serialized bytes; past it they are read back from the store.
  size_t memory_bytes = 8 << 20;
};

// Thread-safe.
class PredictionLogger {
 public:
  // `store` (with the prediction_log column family) and `sink` are not
  // owned and must outlive the logger. Ships what an earlier process left.
  PredictionLogger(PredictionLoggerOptions options, storage::Store* store,
                   PredictionSink* sink);
  // Stops shipping; what is not shipped stays in the store.
  ~PredictionLogger();

  // Appends records durably, then calls `done` with true; with false (and
  // counted) when the log is full or the write fails. Group commit without a
  // thread of its own: when no write is under way the caller writes what is
  // queued (its records and those that arrive meanwhile, one RocksDB write
  // per round) and runs their `done`; otherwise it queues its records and
  // returns at once, and the writing caller runs `done` for it. So `done`
  // may run on another caller's thread, never before the records are in the
  // write-ahead log.
  void Append(std::vector<v1::PredictionRecord> records,
              std::function<void(bool logged)> done);
  // Append, waiting for the outcome.
  bool Log(std::vector<v1::PredictionRecord> records);
  // Waits up to `timeout` until everything logged before the call was
  // shipped; false when it was not (the sink failing, or too slow).
  bool Flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Stops shipping (idempotent); records stay in the store, and Log still
  // adds to them.
  void Stop();
  size_t depth() const;  // Records not yet shipped.
  int64_t dropped() const;

 private:
  void Loop();
  // Ships up to batch_records records from the start of the log; the
  // number shipped, or the sink's error.
  absl::StatusOr<size_t> ShipBatch();
  // The next batch to ship: from memory when it holds the first unshipped
  // record, else read from the store (below the first record held).
  struct Batch {
    v1::PredictionBatch message;
    uint64_t first = 0, last = 0;  // Sequences it covers (0: none).
    uint64_t shipped = 0;          // shipped_ once it is shipped.
    size_t records = 0;            // Records it covers (some unreadable).
  };
  Batch NextBatch();
  void ReadBatch(uint64_t from, uint64_t end, Batch* batch);
  // Every sequence below this one is written, or failed. REQUIRES: mu_.
  uint64_t Written() const;
  struct Queued {
    std::vector<v1::PredictionRecord> records;
    std::vector<std::string> serialized;
    std::function<void(bool)> done;
  };
  // Keeps a written round in held_ when it continues what is held and fits.
  // REQUIRES: mu_.
  void HoldLocked(std::vector<Queued>& round, uint64_t first);
  // Writes the queue until it is empty. REQUIRES: mu_ held by `lock`,
  // committing_ set by this caller.
  void CommitQueued(std::unique_lock<std::mutex>& lock);

  const PredictionLoggerOptions options_;
  storage::Store* const store_;
  PredictionSink* const sink_;
  mutable std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t next_ = 1;     // Sequence of the next record. GUARDED_BY(mu_)
  uint64_t shipped_ = 0;  // Every record below shipped_ + 1 is shipped.
  size_t pending_ = 0;    // Records in the log. GUARDED_BY(mu_)
  // Appended, not yet written: and whether a caller is writing.
  std::vector<Queued> queue_;  // GUARDED_BY(mu_)
  size_t queued_records_ = 0;  // GUARDED_BY(mu_)
  bool committing_ = false;    // GUARDED_BY(mu_)
  // First sequence of the write under way (0: none), and its records.
  uint64_t writing_ = 0;        // GUARDED_BY(mu_)
  size_t writing_records_ = 0;  // GUARDED_BY(mu_)
  int64_t dropped_ = 0;         // GUARDED_BY(mu_)
  bool stop_ = false;           // GUARDED_BY(mu_)
  bool flush_ = false;          // Ship without waiting. GUARDED_BY(mu_)
  // Written records from sequence held_first_ on, in order, with their
  // serialized sizes (summed in held_bytes_).
  std::deque<std::pair<v1::PredictionRecord, size_t>> held_;  // GUARDED_BY(mu_)
  uint64_t held_first_ = 0;                                   // GUARDED_BY(mu_)
  size_t held_bytes_ = 0;                                     // GUARDED_BY(mu_)
  // A batch the sink refused, sent again first. Shipper thread only.
  Batch retry_;
  std::thread thread_;
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_
