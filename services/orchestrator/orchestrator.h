// The orchestrator's domain: turns PipelineSpecs into runs and drives them.
// No gRPC here.
//
// A run's state (and each step's) is written to RocksDB before a step is
// started and after it ends, together with lineage and a run.* event. When
// the process stops or crashes, Start() on the next process resumes every
// run that had not ended: steps that were running are issued again with the
// same idempotency key, so the service they call does not do the work twice.
//
// Column families: runs (id -> v1::Run), cache (key -> v1::StepExecution),
// submit_keys (idempotency key -> run id), events, and those of MetadataStore
// and ModelRegistry.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/storage/store.h"
#include "common/util/task_pool.h"
#include "mlpipe/v1/orchestrator_service.pb.h"
#include "services/orchestrator/executor.h"
#include "services/orchestrator/metadata_store.h"
#include "services/orchestrator/model_registry.h"

namespace mlpipe::orchestrator {

struct OrchestratorOptions {
  // Steps running at once, over all runs. Default 4.
  int max_parallel_steps = 4;
  // A step whose executor ignores its timeout is failed this long after it.
  // Default 1 s.
  absl::Duration timeout_grace = absl::Seconds(1);
  // The columns of a dataset's latest version (NOT_FOUND: no such dataset),
  // for checking the columns a pipeline names at submit. Unset: not checked.
  std::function<absl::StatusOr<std::vector<std::string>>(
      const std::string& dataset)>
      dataset_columns;
  // The distinct values of a column of a dataset's latest version (nullopt:
  // too many to list), for checking positive_class at submit. Unset: not
  // checked.
  std::function<absl::StatusOr<std::optional<std::set<std::string>>>(
      const std::string& dataset, const std::string& column)>
      column_values;
};

// Thread-safe.
class Orchestrator {
 public:
  static storage::Options StorageOptions();

  // `store`, `events` and `executors` are not owned and must outlive it.
  static absl::StatusOr<std::unique_ptr<Orchestrator>> Open(
      OrchestratorOptions options, storage::Store* store,
      events::EventLog* events, const ExecutorRegistry* executors);
  ~Orchestrator();

  // Starts the workers and resumes the runs that had not ended.
  absl::Status Start();
  // Stops starting steps and interrupts running ones; they stay RUNNING in
  // the store and are issued again by the next Start(). Idempotent.
  void Stop();

  // Everything SubmitRun checks, with errors naming file, line and field.
  absl::Status ValidateSpec(const v1::PipelineSpec& spec) const;
  // The columns the pipeline names (spec.label, each step's Columns) against
  // the schema of the datasets that exist: INVALID_ARGUMENT with file:line,
  // the parameter and the dataset's columns.
  absl::Status CheckColumns(const v1::PipelineSpec& spec) const;
  absl::Status CheckPositiveClass(const v1::PipelineSpec& spec) const;

  // Starts a run. `trigger` says why ("manual", "schedule:<id>", ...).
  absl::StatusOr<v1::Run> SubmitRun(const v1::SubmitRunRequest& request,
                                    const std::string& trigger = "manual");
  absl::StatusOr<v1::Run> GetRun(const std::string& id) const;
  // Newest first; `pipeline` empty for all.
  absl::StatusOr<std::vector<v1::Run>> ListRuns(const std::string& pipeline,
                                                int limit) const;
  // Pending steps are CANCELLED, running ones interrupted; on_exit steps
  // still run. FAILED_PRECONDITION when the run has ended.
  absl::StatusOr<v1::Run> CancelRun(const std::string& id);
  // Re-runs a FAILED or CANCELLED run from the steps that did not succeed,
  // keeping what did. FAILED_PRECONDITION for a run that has not ended or
  // succeeded.
  absl::StatusOr<v1::Run> ResumeRun(const std::string& id);

  // `fn` is called with the run after every change of any run (under the
  // orchestrator's lock: it must be quick and must not call back).
  int AddRunListener(std::function<void(const v1::Run&)> fn);
  void RemoveRunListener(int id);

  MetadataStore* metadata() { return &metadata_; }
  ModelRegistry* registry() { return &registry_; }

  // Triggers -------------------------------------------------------------
  // Registers every trigger of `spec` as a schedule. INVALID_ARGUMENT when the
  // spec is invalid, has no triggers, or has a bad cron or time zone.
  absl::StatusOr<std::vector<v1::Schedule>> CreateSchedules(
      const v1::PipelineSpec& spec);
  absl::StatusOr<std::vector<v1::Schedule>> ListSchedules() const;
  absl::Status DeleteSchedule(const std::string& id);
  // Starts a run for every cron schedule due at `now`: once per due time, and
  // once for a series of times missed while down. Returns runs started.
  int Tick(absl::Time now);
  // Starts the runs `event` from `source` triggers and records it as handled.
  // Handling the same event again starts nothing new.
  absl::Status HandleEvent(const std::string& source, const v1::Event& event);
  // The last event sequence handled from `source` (0 when none).
  uint64_t EventCursor(const std::string& source) const;
  // Sources that some event trigger listens to.
  std::set<std::string> EventSources() const;

 private:
  struct ActiveRun;
  Orchestrator(OrchestratorOptions options, storage::Store* store,
               events::EventLog* events, const ExecutorRegistry* executors);

  // REQUIRES: mu_ held (for all *Locked).
  // Settles and starts what it can, storing the changes first; the store's
  // error when that failed. A run never stored (a new one) starts nothing
  // then, and stays in active_ for the caller to drop.
  absl::Status AdvanceLocked(ActiveRun& run);
  // What a PENDING step does now: waits (for its dependencies, its retry
  // time, or the main steps when it runs on exit), is settled without
  // running (skipped, cancelled, a false or broken `when:`, a cache hit),
  // or runs.
  enum class Readiness { kWait, kSettled, kRun };
  Readiness ReadinessLocked(ActiveRun& run, int index, bool main_done,
                            absl::Time now);
  // Serves step `index` from the cache when it may; true on a hit.
  bool FromCacheLocked(ActiveRun& run, int index);
  // Ends the run once every step has; stores what changed (the store's
  // error when that failed).
  absl::Status SettleRunLocked(ActiveRun& run);
  void AdvanceAllLocked();
  void DispatchLocked(ActiveRun& run, int index);
  void FinishStepLocked(ActiveRun& run, int index, absl::Status status,
                        StepResult* result);
  absl::Status PersistLocked(ActiveRun& run, storage::WriteBatch batch,
                             std::vector<v1::Event> events, bool sync = false);
  // The run as active, else as stored.
  absl::StatusOr<v1::Run> CurrentLocked(const std::string& id) const;
  // The run as stored (header, spec when asked, steps).
  absl::StatusOr<v1::Run> LoadRun(const std::string& id, bool with_spec) const;
  // `inputs`: InputArtifacts(run, index).
  std::string CacheKey(const ActiveRun& run, int index,
                       const std::vector<std::string>& inputs) const;
  std::vector<std::string> InputArtifacts(const ActiveRun& run,
                                          int index) const;
  // REQUIRES: mu_ held. The run whose step `index` runs attempt `attempt`;
  // null when that attempt is stale or the orchestrator is stopping.
  ActiveRun* RunningAttemptLocked(const std::string& run_id, int index,
                                  int attempt);
  void StoreProgressLocked(ActiveRun& run, int index);
  void OnStepDone(const std::string& run_id, int index, int attempt,
                  absl::StatusOr<StepResult> result);
  void OnTimeout(const std::string& run_id, int index, int attempt);
  void OnStepProgress(const std::string& run_id, int index, int attempt,
                      const v1::Operation::Progress& progress);

  const OrchestratorOptions options_;
  storage::Store* const store_;
  events::EventLog* const events_;
  const ExecutorRegistry* const executors_;
  MetadataStore metadata_;
  ModelRegistry registry_;
  std::unique_ptr<TaskPool> pool_;

  std::mutex schedules_mu_;  // Serializes schedule and cursor updates.
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<ActiveRun>> active_;  // GUARDED_BY(mu_)
  int running_steps_ = 0;                                     // GUARDED_BY(mu_)
  bool stopping_ = false;                                     // GUARDED_BY(mu_)
  std::map<int, std::function<void(const v1::Run&)>>
      listeners_;          // GUARDED_BY(mu_)
  int next_listener_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_H_
