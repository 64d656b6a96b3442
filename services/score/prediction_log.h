// Prediction logging: Predict hands its records to a bounded queue and
// never waits; a background thread writes them in batches to a sink (the
// monitoring service's LogPredictions, in score_module.cc). A full queue
// drops records and counts them; a sink error drops the batch and counts
// it. gRPC-free.
#ifndef MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_
#define MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "mlpipe/v1/prediction.pb.h"

namespace mlpipe::score {

// The column family earlier versions kept a local prediction log in; still
// listed so that their stores open. Nothing writes it.
inline constexpr char kPredictionLog[] = "prediction_log";

class PredictionSink {
 public:
  virtual ~PredictionSink() = default;
  virtual absl::Status Write(std::vector<v1::PredictionRecord> batch) = 0;
};

struct PredictionLoggerOptions {
  size_t queue_capacity = 100000;  // Records waiting; more are dropped.
  size_t batch_records = 1000;     // Records per sink write, at most.
  std::chrono::milliseconds flush_interval{200};  // Longest wait to write.
};

// Thread-safe.
class PredictionLogger {
 public:
  // `sink` is not owned and must outlive the logger.
  PredictionLogger(PredictionLoggerOptions options, PredictionSink* sink);
  // Writes what is queued, then stops.
  ~PredictionLogger();

  // Queues records without blocking; false (and counted) when they do not
  // fit.
  bool Log(std::vector<v1::PredictionRecord> records);
  // Blocks until everything queued before the call was handed to the sink.
  void Flush();
  size_t depth() const;
  int64_t dropped() const;

 private:
  void Loop();

  const PredictionLoggerOptions options_;
  PredictionSink* const sink_;
  mutable std::mutex mu_;
  std::condition_variable wake_, done_;
  std::deque<v1::PredictionRecord> queue_;  // GUARDED_BY(mu_)
  uint64_t queued_ = 0;   // Records ever queued. GUARDED_BY(mu_)
  uint64_t handled_ = 0;  // Records written or failed. GUARDED_BY(mu_)
  int64_t dropped_ = 0;   // GUARDED_BY(mu_)
  bool stop_ = false;     // GUARDED_BY(mu_)
  bool flush_ = false;    // Write without waiting. GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_PREDICTION_LOG_H_
