// The monitor: reference profiles per model version, and windows of the
// predictions the scoring service logs, profiled as they arrive, persisted
// in RocksDB; drift reports between the two; actuals joined to the logged
// predictions by id, as windows of performance per version. gRPC-free.
//
// Durability: a logged batch is written to the store (the write-ahead log)
// before Log returns, then folded into its version's open window in memory.
// Every `checkpoint_every` batches, and whenever a window closes, the open
// windows are written and the batches they now contain deleted, in one
// atomic write. A restart loads the windows and folds the batches written
// since: nothing acknowledged is lost or counted twice.
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_H_

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/storage/store.h"
#include "mlpipe/v1/monitor.pb.h"
#include "mlpipe/v1/prediction.pb.h"
#include "services/monitor/performance.h"
#include "services/monitor/profile.h"

namespace mlpipe::monitor {

inline constexpr char kReferences[] = "references";
inline constexpr char kWindows[] = "windows";
inline constexpr char kPending[] = "pending";
inline constexpr char kPredictions[] = "predictions";  // By id, to join.
inline constexpr char kPredictionTimes[] = "prediction_times";  // Retention.
inline constexpr char kActuals[] = "actuals";                   // Ids recorded.
inline constexpr char kPerformance[] = "performance";
// Every column family the monitor uses.
std::vector<std::string> MonitorColumnFamilies();

struct MonitorOptions {
  uint64_t window_rows = 10000;  // A window closes at this many rows
  absl::Duration window_time = absl::Hours(1);  // or past this span.
  size_t windows_kept = 168;                    // Closed windows per version.
  int checkpoint_every = 64;                    // Batches between checkpoints.
  // Logged predictions stay joinable this long after the newest one.
  absl::Duration actuals_horizon = absl::Hours(24 * 7);
  uint64_t performance_rows = 1000;  // Pairs per performance window.
  ProfileOptions profile;
  DriftThresholds thresholds;
};

// Thread-safe.
class Monitor {
 public:
  Monitor(storage::Store* store, MonitorOptions options)
      : store_(store), options_(options) {}
  // Loads the open windows and folds the batches logged since they were
  // written. Call once, before anything else.
  absl::Status Restore();

  // The reference of a model version: its training rows' profile and what
  // it predicts. INVALID_ARGUMENT when the profile is inconsistent.
  absl::Status SetReference(const v1::MonitorReference& reference);
  // NOT_FOUND when none was set.
  absl::StatusOr<v1::MonitorReference> Reference(
      const std::string& model_version) const;

  // Durable when it returns OK.
  absl::Status Log(const std::vector<v1::PredictionRecord>& records);

  // The last `windows` windows of a version (newest last; the open one
  // included), straight from the store and memory.
  absl::StatusOr<std::vector<v1::MonitorWindow>> Windows(
      const std::string& model_version, size_t windows) const;
  // Drift of the last `windows` windows merged, against the reference.
  // NOT_FOUND without a reference, FAILED_PRECONDITION without predictions.
  absl::StatusOr<v1::DriftReport> Report(const std::string& model_version,
                                         size_t windows) const;
  // Writes the open windows now (as at shutdown).
  absl::Status Checkpoint();

  // Ground truth for logged predictions, by prediction id. Idempotent (an
  // id already recorded is a duplicate); durable when it returns OK.
  // Actuals of versions without a reference, or that do not fit the
  // model's task, are refused one by one (in the result's errors).
  absl::StatusOr<v1::ActualsResult> RecordActuals(
      const std::vector<std::pair<std::string, google::protobuf::Value>>&
          actuals);
  // The last `windows` performance windows of a version, merged.
  absl::StatusOr<v1::Performance> Performance(const std::string& model_version,
                                              size_t windows) const;

 private:
  struct Open {
    v1::MonitorWindow window;  // Without its profile: that is `profile`.
    Profiler profile;
    bool dirty = false;
  };
  void Fold(const v1::PredictionRecord& r, std::vector<std::string>* closed);
  void ExpirePredictions(storage::WriteBatch* b);
  absl::Status CheckpointLocked(const std::vector<std::string>& closed);

  storage::Store* const store_;
  const MonitorOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Open> open_;         // GUARDED_BY(mu_), by version.
  std::vector<v1::MonitorWindow> to_close_;  // GUARDED_BY(mu_)
  uint64_t next_batch_ = 0;                  // GUARDED_BY(mu_)
  int since_checkpoint_ = 0;                 // GUARDED_BY(mu_)
  int64_t newest_micros_ = 0;                // GUARDED_BY(mu_)
  mutable std::mutex actuals_mu_;
  // Open performance windows, by version. GUARDED_BY(actuals_mu_)
  std::map<std::string, v1::PerformanceWindow> performance_;
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_H_
