// Prediction logging, durable: Predict appends its records to a segment log
// (storage::SegmentLog, <data dir>/score-prediction-log: a copy into a
// memory-mapped file, no system call) before the reply, so a prediction
// acknowledged to a client survives kill -9 of the process; a background
// thread ships them in batches, in order, to a sink (the monitoring
// service's LogPredictions, in score_module.cc) and trims what the sink
// took. A sink that fails keeps the records (retried with backoff); records
// not shipped when the process stops are shipped by the next start. The log
// holds at most queue_capacity records and max_bytes of files: past either,
// new records are dropped and counted. gRPC-free.
//
// Records an older version left in the score store's prediction_log column
// family (<sequence, 8 bytes big-endian> -> v1::PredictionRecord) are moved
// into the segment log when it opens.
#ifndef MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_
#define MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/segment_log.h"
#include "common/storage/store.h"
#include "mlpipe/v1/prediction.pb.h"

namespace mlpipe::score {

inline constexpr char kPredictionLog[] = "prediction_log";

class PredictionSink {
 public:
  virtual ~PredictionSink() = default;
  // `batch`: a serialized v1::PredictionBatch of `records` records.
  virtual absl::Status Write(std::string_view batch, size_t records) = 0;
};

struct PredictionLoggerOptions {
  size_t queue_capacity = 100000;  // Records not yet shipped; more dropped.
  uint64_t max_bytes = 256 << 20;  // The log's files; past it, dropped.
  size_t segment_bytes = 16 << 20;
  uint64_t min_free_bytes = 0;    // The disk space reserve (0: none).
  size_t batch_records = 1000;    // Records per sink write, at most,
  size_t batch_bytes = 16 << 20;  // and bytes (under gRPC's message limit).
  std::chrono::milliseconds flush_interval{200};   // Longest wait to ship.
  std::chrono::milliseconds retry_interval{1000};  // After a sink error.
};

// Thread-safe.
class PredictionLogger {
 public:
  // Opens the log in `dir` (created when absent) and starts shipping, what
  // an earlier process left first. `legacy` (may be null: none) is a store
  // with the prediction_log column family, whose records are moved into the
  // log first. `sink` is not owned and must outlive the logger.
  static absl::StatusOr<std::unique_ptr<PredictionLogger>> Open(
      PredictionLoggerOptions options, const std::string& dir,
      storage::Store* legacy, PredictionSink* sink);
  // Stops shipping; what is not shipped stays in the log.
  ~PredictionLogger();

  // Appends records durably: true once they are in the log; false (and
  // counted) when the log is full or cannot take them.
  bool Log(const std::vector<v1::PredictionRecord>& records);
  // The same with the records serialized.
  bool Log(const std::vector<std::string>& serialized);
  // Waits up to `timeout` until everything logged before the call was
  // shipped; false when it was not (the sink failing, or too slow).
  bool Flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Stops shipping (idempotent); records stay in the log, and Log still
  // adds to them.
  void Stop();
  size_t depth() const;  // Records not yet shipped.
  int64_t dropped() const;

 private:
  PredictionLogger(PredictionLoggerOptions options,
                   std::unique_ptr<storage::SegmentLog> log,
                   PredictionSink* sink);
  // Moves what an older version left in `store` into log_ (those that do
  // not parse skipped); what does not fit stays for a later start.
  void MoveLegacy(storage::Store* store);
  void Loop();
  // Ships up to `max_records` (and batch_records) records from the first
  // one not shipped; the number shipped, or the sink's error.
  absl::StatusOr<size_t> ShipBatch(size_t max_records);
  // After the sink refused a batch of records for what they hold: halves
  // the batch (`*limit`) until the refused record stands alone, then drops
  // it, so one bad record never holds up the ones after it.
  void Isolate(const absl::Status& refused, size_t* limit);
  void Drop(size_t n, std::string_view why);

  const PredictionLoggerOptions options_;
  const std::unique_ptr<storage::SegmentLog> log_;
  PredictionSink* const sink_;
  // Every record below it is shipped (written by the shipper only).
  std::atomic<uint64_t> shipped_;
  std::atomic<int64_t> dropped_{0};
  std::mutex mu_;
  std::condition_variable wake_, done_;
  bool stop_ = false;   // GUARDED_BY(mu_)
  bool flush_ = false;  // Ship without waiting. GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_
