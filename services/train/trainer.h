// The training domain (no gRPC): runs training jobs (the "train"
// operation): reads a split's parts, expands each candidate's search space
// into trials, runs the trials on a bounded pool (here, or on train
// replicas), checkpoints fits, scores them, keeps the best setting of every
// candidate as a versioned model artifact and emits model.trained.
//
// A job interrupted by a crash runs again when the service restarts (the
// operation manager re-queues it): finished trials and stored models are
// kept, and a running fit resumes from its last checkpoint.
//
// A candidate whose inputs (data, split, feature set, task, search, its own
// settings) an earlier job trained is not trained again: the job reuses its
// model and trials (CACHED), unless the request says no_cache.
//
// Column families: jobs (id -> v1::TrainingJob), checkpoints (fit key ->
// v1::TrialCheckpoint), trial_models (trial id -> v1::LearnedParameters),
// candidate_cache (candidate key -> v1::CachedCandidate), models
// (model_store.h), operations, events.
#ifndef MLPIPE_SERVICES_TRAIN_TRAINER_H_
#define MLPIPE_SERVICES_TRAIN_TRAINER_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/ops/operation_manager.h"
#include "common/storage/store.h"
#include "common/table/frame_reader.h"
#include "mlpipe/v1/feature_set.pb.h"
#include "mlpipe/v1/prep_service.pb.h"
#include "mlpipe/v1/split_service.pb.h"
#include "mlpipe/v1/train_service.pb.h"
#include "services/train/model_store.h"

namespace mlpipe::train {

// Where a job reads its rows and lineage (split and prep over gRPC in the
// service).
class TrainSources {
 public:
  virtual ~TrainSources() = default;
  virtual absl::StatusOr<v1::Split> GetSplit(const std::string& id) = 0;
  virtual absl::StatusOr<v1::FeatureSet> GetFeatureSet(
      const std::string& id) = 0;
  virtual absl::StatusOr<v1::FittedTransform> GetTransform(
      const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
      const std::string& split) = 0;
  // Rows of a feature set (prep's ReadFeatures).
  virtual absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& request) = 0;
};

// Runs trials on train replicas (the TrainTrial RPC, spread round robin).
class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  // `cancelled` is polled while the call runs.
  virtual absl::StatusOr<v1::TrainTrialResponse> Run(
      const v1::TrainTrialRequest& request,
      const std::function<bool()>& cancelled) = 0;
  // One shard of a distributed trial (the TrainShard call, never retried:
  // the collective cannot take a shard again). `on_report` sees each
  // report; `worker` is set to the replica's address.
  virtual absl::Status RunShard(
      const v1::TrainShardRequest& request,
      const std::function<void(const v1::ShardReport&)>& on_report,
      const std::function<bool()>& cancelled, std::string* worker) = 0;
};

namespace internal {
struct Job;
struct Data;
struct Outcome;
struct Parts;
}  // namespace internal

struct TrainerOptions {
  // Behaviour ---------------------------------------------------------------
  // Rounds / iterations between checkpoints when a request does not say.
  // Default 10.
  int checkpoint_every = 10;
  // Where trials run: null = in this process; else on the replicas.
  TrialRunner* replicas = nullptr;
  // Names this process in Trial.worker. Default "<hostname>:<pid>".
  std::string worker_id;
  // Distributed trials ------------------------------------------------------
  // Where the shards' processes reach the tracker this coordinator starts
  // (an address of this host). Default: this host's name's address.
  std::string tracker_host;
  // Attempts of a distributed trial that loses a worker (each from the
  // last checkpoint). Default 3.
  int shard_attempts = 3;
  // A shard silent this long (no report, not even its heartbeat every
  // 5 s) is presumed lost. Default 60.
  int shard_silence_seconds = 60;
  // How a replica runs a shard: the shard binary and its flags (peers,
  // credentials); empty: this replica runs none.
  std::vector<std::string> shard_command;
  // Performance -------------------------------------------------------------
  // Trials of one job trained at once (the bounded worker pool). Default 2.
  int parallel_trials = 2;
  // Threads per trial when a request does not say. Default 1.
  int threads_per_candidate = 1;
  // Max rows per frame read from the split service. Default 65536.
  int64_t frame_rows = 65536;
};

// Thread-safe.
class Trainer {
 public:
  static storage::Options StorageOptions();
  // Not owned; all outlive the trainer.
  Trainer(TrainerOptions options, storage::Store* store,
          events::EventLog* events, TrainSources* sources);
  ~Trainer();

  // The work of operation `progress.operation_id()`: runs (or resumes) the
  // job to its models. INVALID_ARGUMENT / FAILED_PRECONDITION / NOT_FOUND
  // naming the field for bad requests; CANCELLED when cancelled.
  absl::StatusOr<v1::TrainingResult> Run(
      const v1::StartTrainingRequest& request, ops::Progress& progress);
  // Replica work: one trial (or a candidate's final fit) of a job another
  // train service coordinates.
  absl::StatusOr<v1::TrainTrialResponse> TrainTrial(
      const v1::TrainTrialRequest& request,
      const std::function<bool()>& cancelled);
  // Replica work: one shard of a distributed trial, in a child process
  // (shard.h); its reports, after one naming this worker, to `report`.
  absl::Status TrainShard(
      const v1::TrainShardRequest& request,
      const std::function<absl::Status(const v1::ShardReport&)>& report,
      const std::function<bool()>& cancelled);

  // Records a PENDING job for operation `id` when none is stored, so the
  // job can be watched before its work starts.
  absl::Status Created(const std::string& id,
                       const v1::StartTrainingRequest& request);
  absl::StatusOr<v1::TrainingJob> GetJob(const std::string& id) const;
  absl::StatusOr<std::vector<v1::Trial>> ListTrials(
      const v1::ListTrialsRequest& request) const;
  ModelStore& models() { return models_; }

  // `fn` sees every change of every job (from the changing thread, under a
  // lock: it must not call back). Returns a handle for RemoveListener.
  int AddListener(std::function<void(const v1::TrainingJob&)> fn);
  void RemoveListener(int handle);

 private:
  // A job running here, its rows, a trial's outcome (trainer_internal.h).
  using Job = internal::Job;
  using Data = internal::Data;
  using Outcome = internal::Outcome;
  class TrialScheduler;
  // The job of operation `id`: the stored one when it resumes, else a new
  // one; registered as live and RUNNING.
  absl::StatusOr<std::shared_ptr<Job>> BeginJob(
      const v1::StartTrainingRequest& request, const std::string& id,
      bool* resumed);
  // Ends the job in `state`, persisted and no longer live; returns `status`.
  absl::Status EndJob(Job& live, v1::Operation::State state,
                      absl::Status status);
  // The job's trials: every candidate's settings (kept when it resumes).
  absl::Status PlanTrials(Job& live, const Data& data,
                          const v1::StartTrainingRequest& request,
                          bool resumed);
  // Runs the job's pending trials (TrialScheduler) and makes each
  // candidate's model; OK, or the failure that stopped them.
  absl::Status RunTrials(Job& live, const Data& data, int threads,
                         ops::Progress& progress);
  // The candidates' models, the best by the search metric first.
  absl::StatusOr<v1::TrainingResult> BestOf(
      const v1::StartTrainingRequest& request, const v1::TrainingJob& job,
      const Data& data);
  // The job's rows (only its lineage when trials run on replicas).
  absl::StatusOr<std::shared_ptr<Data>> LoadData(const v1::TrainingJob& job,
                                                 bool rows);
  // A distributed trial over its shards on the replicas (distributed.cc),
  // attempted again from its last checkpoint when a worker is lost.
  absl::StatusOr<Outcome> RunDistributed(
      const Data& data, const v1::TrainingJob& job, const v1::Trial& trial,
      int threads, const std::function<bool()>& cancelled,
      const std::function<void(const v1::Trial&)>& on_progress);
  absl::StatusOr<Outcome> RunTrialHere(
      const Data& data, const v1::TrainingJob& job, const v1::Trial& trial,
      bool final_fit, int threads, const std::function<bool()>& cancelled,
      const std::function<void(const v1::Trial&)>& on_progress);
  // Makes and stores the candidate's model once its trials have ended.
  absl::Status FinishCandidate(Job& job, const Data& data,
                               const std::string& candidate,
                               ops::Progress& progress);
  // The parameters of the candidate's model from its best trial.
  absl::StatusOr<v1::ModelArtifact> FinalFit(const v1::TrainingJob& job,
                                             const Data& data,
                                             const v1::Trial& best,
                                             ops::Progress& progress);
  // Stores the candidate's model `a` in the job, with model.trained, and
  // under `cache_key` for later jobs.
  absl::Status StoreCandidate(Job& live, const v1::ModelArtifact& a,
                              double score, const std::string& metric,
                              const std::string& cache_key);
  // What a candidate's model depends on, hashed (candidate_model.cc).
  static std::string CandidateKey(const v1::TrainingJob& job, const Data& data,
                                  const std::string& candidate);
  // Takes the candidate's model and trials from the earlier job that made
  // them from the same inputs into `job`; false when there is none (or its
  // model is gone). REQUIRES: the job's lock held.
  bool ReuseCandidate(v1::TrainingJob& job, const Data& data,
                      const v1::Candidate& candidate);
  // A fit's parameters, metrics and time as a (partial) model artifact.
  static v1::ModelArtifact FittedModel(const Outcome& outcome);
  void Changed(Job& job, bool persist);
  absl::Status Persist(const v1::TrainingJob& job);
  // The job as it runs in this process, if it does.
  std::optional<v1::TrainingJob> LiveJob(const std::string& id) const;
  // The live job, else `stored` (its record) parsed.
  absl::StatusOr<v1::TrainingJob> JobFrom(const std::string& id,
                                          std::string_view stored) const;

  const TrainerOptions options_;
  storage::Store* const store_;
  events::EventLog* const events_;
  TrainSources* const sources_;
  ModelStore models_;

  std::mutex listeners_mu_;
  std::map<int, std::function<void(const v1::TrainingJob&)>>
      listeners_;          // GUARDED_BY(listeners_mu_)
  int next_listener_ = 0;  // GUARDED_BY(listeners_mu_)

  mutable std::mutex jobs_mu_;
  std::map<std::string, std::shared_ptr<Job>> live_;  // GUARDED_BY(jobs_mu_)

  std::mutex replica_data_mu_;
  std::string replica_job_;             // GUARDED_BY(replica_data_mu_)
  std::shared_ptr<Data> replica_data_;  // GUARDED_BY(replica_data_mu_)
};

}  // namespace mlpipe::train

#endif  // MLPIPE_SERVICES_TRAIN_TRAINER_H_
