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
// since: nothing acknowledged is lost or counted twice. A batch of
// `checkpoint_batch_records` or more (the score service ships 1,000) is not
// written as a batch: the open windows it was folded into are checkpointed
// before Log returns, which writes less.
//
// Alerts: when a window closes, it is compared with its version's
// reference; drifted fields raise a "drift" alert. When a version's open
// performance window holds enough pairs, it is judged against the version's
// policy; a metric past its bound raises a "performance" alert. An alert is
// stored together with its event (drift.detected / performance.degraded) in
// the same write as the window or actuals that showed it (so a crash loses
// neither or both), at most once per version and kind per cooldown, then
// handed to the alert listener (which acts on it: rolls back). Lock order:
// mu_ or actuals_mu_, then alerts_mu_.
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/events/event_log.h"
#include "common/features/sketches.h"
#include "common/storage/store.h"
#include "mlpipe/v1/monitor.pb.h"
#include "mlpipe/v1/monitor_service.pb.h"
#include "mlpipe/v1/prediction.pb.h"
#include "services/monitor/performance.h"
#include "services/monitor/profile.h"
#include "services/monitor/rollouts.h"

namespace mlpipe::monitor {

inline constexpr char kReferences[] = "references";
inline constexpr char kWindows[] = "windows";
inline constexpr char kPending[] = "pending";
inline constexpr char kPredictions[] = "predictions";  // By id, to join.
// Retention: <newest time of a logged batch, its first id> -> its ids.
inline constexpr char kPredictionTimes[] = "prediction_times";
inline constexpr char kActuals[] = "actuals";  // Ids recorded.
inline constexpr char kPerformance[] = "performance";
inline constexpr char kPolicies[] = "policies";
inline constexpr char kAlerts[] = "alerts";
// Every column family the monitor uses.
std::vector<std::string> MonitorColumnFamilies();

struct MonitorOptions {
  uint64_t window_rows = 10000;  // A window closes at this many rows
  absl::Duration window_time = absl::Hours(1);  // or past this span.
  size_t windows_kept = 168;                    // Closed windows per version.
  int checkpoint_every = 64;                    // Batches between checkpoints.
  // A batch of this many records is checkpointed at once, not kept pending.
  size_t checkpoint_batch_records = 256;
  // Logged predictions stay joinable this long after the newest one.
  absl::Duration actuals_horizon = absl::Hours(24 * 7);
  uint64_t performance_rows = 1000;  // Pairs per performance window.
  // At most one alert per version and kind this often.
  absl::Duration alert_cooldown = absl::Hours(1);
  size_t alerts_kept = 10000;  // The oldest are deleted past this.
  ProfileOptions profile;
  DriftThresholds thresholds;
};

// Thread-safe.
class Monitor {
 public:
  // `events` (may be null) receives drift.detected and performance.degraded.
  Monitor(storage::Store* store, MonitorOptions options,
          events::EventLog* events = nullptr)
      : store_(store), options_(options), events_(events) {}
  // Called with every alert once it is stored, outside the monitor's locks,
  // on the thread that raised it. Set before Restore.
  void SetAlertListener(std::function<void(const v1::Alert&)> fn) {
    listener_ = std::move(fn);
  }
  // Feeds the rollouts (may be null) with the requests logged and the
  // actuals joined from now on. Set after Restore.
  void SetRollouts(Rollouts* rollouts) { rollouts_ = rollouts; }
  // Loads the open windows and folds the batches logged since they were
  // written. Call once, before anything else.
  absl::Status Restore();
  const MonitorOptions& options() const { return options_; }

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
  // Closes the windows whose time is up at `now` (their alerts raised and
  // gauges set then, not when the version's next prediction comes); the
  // module calls it every second.
  absl::Status CloseDue(absl::Time now);

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

  // Everything about a version over its last `windows` windows: drift,
  // performance, target drift (actuals against the training labels),
  // serving latency, its alerts and policy. NOT_FOUND when the version has
  // neither a reference nor logged predictions.
  absl::StatusOr<v1::MonitorReport> Summary(const std::string& model_version,
                                            size_t windows,
                                            bool include_profiles) const;
  // The newest version of model `name` with a reference or windows, or
  // NOT_FOUND.
  absl::StatusOr<std::string> NewestVersion(const std::string& name) const;

  // INVALID_ARGUMENT for bounds that cannot hold.
  absl::Status SetPolicy(const v1::MonitorPolicy& policy);
  // NOT_FOUND when none was set.
  absl::StatusOr<v1::MonitorPolicy> Policy(
      const std::string& model_version) const;

  // Newest first; empty `model_version` / `kind` for all; limit 0: 50.
  absl::StatusOr<std::vector<v1::Alert>> Alerts(
      const std::string& model_version, const std::string& kind,
      size_t limit) const;
  // Records what was done about an alert. NOT_FOUND for an unknown id.
  absl::Status SetAlertAction(uint64_t id, const std::string& action);

 private:
  class ActualsBatch;  // actuals.cc
  struct Open {
    v1::MonitorWindow window;  // Without profile and latency: those are
    Profiler profile;          // here.
    features::QuantileSketch latency;
    bool dirty = false;
  };
  Open NewWindow(const std::string& version, uint64_t seq) const;
  void Fold(const v1::PredictionRecord& r, std::vector<std::string>* closed);
  // Moves version's open window `o` to to_close_ and opens the next one.
  void CloseWindowLocked(const std::string& version, Open* o,
                         std::vector<std::string>* closed);
  void ExpirePredictions(storage::WriteBatch* b);
  // Writes the closed and dirty windows with the alerts of the closed ones,
  // in one write; the alerts raised go to `raised`.
  absl::Status CheckpointLocked(const std::vector<std::string>& closed,
                                std::vector<v1::Alert>* raised);
  // A drift alert for a closed window, if it drifted from its reference.
  std::optional<v1::Alert> DriftAlert(const v1::MonitorWindow& w) const;
  // A performance alert when the window breaks the version's policy.
  std::optional<v1::Alert> PerformanceAlert(const v1::PerformanceWindow& w,
                                            const v1::Performance& p) const;
  // What `ws` say together; FAILED_PRECONDITION when empty.
  static absl::StatusOr<v1::Performance> Merged(
      const std::string& model_version,
      const std::map<uint64_t, v1::PerformanceWindow>& ws);
  // The last `windows` performance windows of a version by seq (the open
  // one included).
  absl::StatusOr<std::map<uint64_t, v1::PerformanceWindow>> PerformanceWindows(
      const std::string& model_version, size_t windows) const;
  // Writes `b` with the alerts not in their cooldown and their events, in
  // one atomic write; appends those alerts to `raised`.
  absl::Status WriteWithAlerts(storage::WriteBatch b,
                               std::vector<v1::Alert> alerts,
                               std::vector<v1::Alert>* raised);
  // Counts, logs and hands raised alerts to the listener. Call without the
  // monitor's locks held.
  void Announce(const std::vector<v1::Alert>& raised) const;

  storage::Store* const store_;
  const MonitorOptions options_;
  events::EventLog* const events_;
  std::function<void(const v1::Alert&)> listener_;
  Rollouts* rollouts_ = nullptr;
  mutable std::mutex mu_;
  std::map<std::string, Open> open_;         // GUARDED_BY(mu_), by version.
  std::vector<v1::MonitorWindow> to_close_;  // GUARDED_BY(mu_)
  uint64_t next_batch_ = 0;                  // GUARDED_BY(mu_)
  int since_checkpoint_ = 0;                 // GUARDED_BY(mu_)
  bool pending_ = false;       // Batches in kPending. GUARDED_BY(mu_)
  int64_t newest_micros_ = 0;  // GUARDED_BY(mu_)
  // The oldest retention entry's time (INT64_MIN: unknown, INT64_MAX: none):
  // retention scans only when the horizon has passed it. GUARDED_BY(mu_)
  int64_t oldest_kept_micros_ = INT64_MIN;
  mutable std::mutex actuals_mu_;
  // Open performance windows, by version. GUARDED_BY(actuals_mu_)
  std::map<std::string, v1::PerformanceWindow> performance_;
  mutable std::mutex alerts_mu_;
  uint64_t last_alert_ = 0;  // GUARDED_BY(alerts_mu_)
  // (version, kind) -> time of its last alert. GUARDED_BY(alerts_mu_)
  std::map<std::pair<std::string, std::string>, int64_t> last_raised_;
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_H_
