#include "services/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "clients/train_request.h"
#include "common/eval/score.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "services/train/trainer_internal.h"

namespace mlpipe::train {
namespace {

using google::protobuf::util::TimeUtil;

TrainerOptions WithDefaults(TrainerOptions o) {
  if (o.worker_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    o.worker_id = StrCat(host, ":", static_cast<int64_t>(getpid()));
  }
  return o;
}

}  // namespace

Metrics& Metrics::Get() {
  static Metrics* m = new Metrics{
      prometheus::BuildCounter()
          .Name("mlpipe_train_jobs_total")
          .Help("Training jobs ended, by state.")
          .Register(metrics::Registry()),
      prometheus::BuildCounter()
          .Name("mlpipe_train_trials_total")
          .Help("Trials ended, by algorithm and state.")
          .Register(metrics::Registry()),
      prometheus::BuildHistogram()
          .Name("mlpipe_train_fit_seconds")
          .Help("Time to fit one model (a trial, a fold or a final fit), by "
                "algorithm.")
          .Register(metrics::Registry()),
      prometheus::BuildGauge()
          .Name("mlpipe_train_jobs_running")
          .Help("Training jobs running now.")
          .Register(metrics::Registry())
          .Add({}),
      prometheus::BuildCounter()
          .Name("mlpipe_train_fits_resumed_total")
          .Help("Fits resumed from a checkpoint.")
          .Register(metrics::Registry())
          .Add({}),
      prometheus::BuildCounter()
          .Name("mlpipe_train_distributed_attempts_total")
          .Help("Attempts of distributed trials, by outcome: succeeded, "
                "worker_lost (attempted again from the last checkpoint while "
                "attempts are left), failed, cancelled.")
          .Register(metrics::Registry()),
  };
  return *m;
}

const prometheus::Histogram::BucketBoundaries& FitBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 7200};
  return *b;
}

std::string TaskName(v1::Task t) {
  switch (t) {
    case v1::BINARY:
      return "binary";
    case v1::MULTICLASS:
      return "multiclass";
    case v1::REGRESSION:
      return "regression";
    case v1::CLUSTERING:
      return "clustering";
    default:
      return "";
  }
}

std::string Or(const std::string& a, const std::string& b) {
  return a.empty() ? b : a;
}

bool Better(const std::string& metric, double a, double b) {
  if (std::isnan(b)) return !std::isnan(a);
  if (std::isnan(a)) return false;
  return eval::HigherIsBetter(metric) ? a > b : a < b;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

v1::ModelArtifact Trainer::FittedModel(const Outcome& outcome) {
  v1::ModelArtifact m;
  if (outcome.learned) *m.mutable_learned() = *outcome.learned;
  m.mutable_train_metrics()->Assign(outcome.train_metrics.begin(),
                                    outcome.train_metrics.end());
  m.mutable_eval_metrics()->Assign(outcome.eval_metrics.begin(),
                                   outcome.eval_metrics.end());
  m.mutable_timings()->set_fit_seconds(outcome.fit_seconds);
  m.mutable_timings()->set_read_seconds(outcome.read_seconds);
  m.set_train_rows(outcome.train_rows);
  m.set_eval_rows(outcome.eval_rows);
  return m;
}

storage::Options Trainer::StorageOptions() {
  storage::Options o;
  o.column_families = {{.name = kJobs},
                       {.name = kCheckpoints, .large_values = true},
                       {.name = kTrialModels, .large_values = true},
                       {.name = kCandidateCache},
                       {.name = kModelsColumnFamily, .large_values = true},
                       {.name = ops::kOperationsColumnFamily},
                       {.name = events::kEventsColumnFamily}};
  return o;
}

Trainer::Trainer(TrainerOptions options, storage::Store* store,
                 events::EventLog* events, TrainSources* sources)
    : options_(WithDefaults(std::move(options))),
      store_(store),
      events_(events),
      sources_(sources),
      models_(store) {
  Metrics::Get();
}

Trainer::~Trainer() = default;

int Trainer::AddListener(std::function<void(const v1::TrainingJob&)> fn) {
  std::lock_guard lock(listeners_mu_);
  listeners_[next_listener_] = std::move(fn);
  return next_listener_++;
}

void Trainer::RemoveListener(int handle) {
  std::lock_guard lock(listeners_mu_);
  listeners_.erase(handle);
}

absl::StatusOr<std::shared_ptr<Trainer::Data>> Trainer::LoadData(
    const v1::TrainingJob& job, bool rows) {
  return internal::LoadData(*sources_, job,
                            {.frame_rows = options_.frame_rows, .rows = rows});
}

absl::Status Trainer::Persist(const v1::TrainingJob& job) {
  return store_->Put(kJobs, job.id(), job.SerializeAsString());
}

// REQUIRES: job.mu held.
void Trainer::Changed(Job& job, bool persist) {
  job.job.set_revision(job.job.revision() + 1);
  *job.job.mutable_updated_at() = TimeUtil::GetCurrentTime();
  if (persist || Clock::now() - job.last_persist > std::chrono::seconds(1)) {
    (void)Persist(job.job);  // Progress is best effort; states persist below.
    job.last_persist = Clock::now();
  }
  std::lock_guard lock(listeners_mu_);
  for (auto& [id, fn] : listeners_) fn(job.job);
}

absl::Status Trainer::Created(const std::string& id,
                              const v1::StartTrainingRequest& request) {
  std::lock_guard lock(jobs_mu_);
  if (live_.contains(id)) return absl::OkStatus();
  auto existing = store_->Get(kJobs, id);
  if (existing.ok()) return absl::OkStatus();
  if (!absl::IsNotFound(existing.status())) return existing.status();
  v1::TrainingJob job;
  job.set_id(id);
  *job.mutable_request() = request;
  job.set_state(v1::Operation::PENDING);
  job.set_revision(1);
  *job.mutable_created_at() = TimeUtil::GetCurrentTime();
  *job.mutable_updated_at() = job.created_at();
  return Persist(job);
}

std::optional<v1::TrainingJob> Trainer::LiveJob(const std::string& id) const {
  std::lock_guard lock(jobs_mu_);
  auto it = live_.find(id);
  if (it == live_.end()) return std::nullopt;
  std::lock_guard job_lock(it->second->mu);
  return it->second->job;
}

absl::StatusOr<v1::TrainingJob> Trainer::JobFrom(
    const std::string& id, std::string_view stored) const {
  if (auto live = LiveJob(id)) return *live;  // Fresher than the store.
  v1::TrainingJob job;
  if (!job.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) {
    return absl::DataLossError(
        StrCat("job ", id, ": stored record is unreadable"));
  }
  return job;
}

absl::StatusOr<v1::TrainingJob> Trainer::GetJob(const std::string& id) const {
  if (auto live = LiveJob(id)) return *live;
  auto bytes = store_->Get(kJobs, id);
  if (!bytes.ok()) {
    if (absl::IsNotFound(bytes.status()))
      return absl::NotFoundError(StrCat("job ", id, ": no such training job"));
    return bytes.status();
  }
  return JobFrom(id, *bytes);
}

absl::StatusOr<std::vector<v1::Trial>> Trainer::ListTrials(
    const v1::ListTrialsRequest& request) const {
  std::vector<v1::TrainingJob> jobs;
  if (!request.job().empty()) {
    auto job = GetJob(request.job());
    if (!job.ok()) return job.status();
    jobs.push_back(std::move(*job));
  } else {
    auto it = store_->Scan(kJobs, "");
    for (; it->Valid(); it->Next()) {
      auto job = JobFrom(std::string(it->key()), it->value());
      if (!job.ok()) return job.status();
      jobs.push_back(std::move(*job));
    }
    if (auto s = it->status(); !s.ok()) return s;
  }
  std::vector<v1::Trial> out;
  std::string metric;
  for (const auto& job : jobs) {
    for (const auto& t : job.trials()) {
      if (!request.candidate().empty() && t.candidate() != request.candidate())
        continue;
      if (!request.algorithm().empty() && t.algorithm() != request.algorithm())
        continue;
      out.push_back(t);
    }
  }
  if (request.order_by() == "score") {
    std::stable_sort(out.begin(), out.end(),
                     [](const v1::Trial& a, const v1::Trial& b) {
                       return Better(a.metric(), a.score(), b.score());
                     });
  } else if (!request.order_by().empty()) {
    return absl::InvalidArgumentError(StrCat(
        "order_by: \"score\" or empty, got \"", request.order_by(), "\""));
  } else {
    std::stable_sort(out.begin(), out.end(),
                     [](const v1::Trial& a, const v1::Trial& b) {
                       return TimeUtil::TimestampToNanoseconds(a.started_at()) >
                              TimeUtil::TimestampToNanoseconds(b.started_at());
                     });
  }
  int limit = request.limit() > 0 ? request.limit() : 100;
  if (static_cast<int>(out.size()) > limit) out.resize(limit);
  return out;
}

absl::StatusOr<std::shared_ptr<Trainer::Job>> Trainer::BeginJob(
    const v1::StartTrainingRequest& request, const std::string& id,
    bool* resumed) {
  auto live = std::make_shared<Job>();
  auto stored = GetJob(id);
  *resumed = stored.ok();
  if (*resumed) {
    live->job = std::move(*stored);
  } else if (absl::IsNotFound(stored.status())) {
    live->job.set_id(id);
    *live->job.mutable_request() = request;
    *live->job.mutable_created_at() = TimeUtil::GetCurrentTime();
  } else {
    return stored.status();
  }
  live->job.set_state(v1::Operation::RUNNING);
  {
    std::lock_guard lock(jobs_mu_);
    live_[id] = live;
  }
  Metrics::Get().running.Increment();
  return live;
}

absl::Status Trainer::EndJob(Job& live, v1::Operation::State state,
                             absl::Status status) {
  {
    std::lock_guard lock(live.mu);
    live.job.set_state(state);
    if (!status.ok()) live.job.set_error(std::string(status.message()));
    Changed(live, true);
  }
  {
    std::lock_guard lock(jobs_mu_);
    live_.erase(live.job.id());
  }
  auto& m = Metrics::Get();
  m.running.Decrement();
  m.jobs.Add({{"state", v1::Operation::State_Name(state)}}).Increment();
  return status;
}

absl::StatusOr<v1::TrainingResult> Trainer::BestOf(
    const v1::StartTrainingRequest& request, const v1::TrainingJob& job,
    const Data& data) {
  v1::TrainingResult result;
  result.set_job(job.id());
  *result.mutable_cached_candidates() = job.cached_candidates();
  double best_score = NAN;
  for (const auto& c : request.candidates()) {
    auto it = job.candidate_models().find(c.name());
    if (it == job.candidate_models().end()) continue;
    auto model = models_.Get(it->second);
    if (!model.ok()) return model.status();
    // The best model by the search metric on the eval part (with
    // cross-validation and no eval part: the cross-validated score).
    double score = eval::Find(model->eval_metrics(), data.resolved.metric);
    if (std::isnan(score)) {
      for (const auto& t : job.trials()) {
        if (t.id() == model->trial_id()) score = t.score();
      }
    }
    if (result.best_model().empty() ||
        Better(data.resolved.metric, score, best_score)) {
      best_score = score;
      result.set_best_model(model->id());
    }
    *result.add_models() = Summary(*model);
  }
  return result;
}

absl::StatusOr<v1::TrainingResult> Trainer::Run(
    const v1::StartTrainingRequest& request, ops::Progress& progress) {
  if (auto s = CheckTrainingRequest(request); !s.ok()) return s;
  const std::string id = progress.operation_id();
  if (id.empty()) return absl::InternalError("training runs as an operation");
  bool resumed = false;
  auto begun = BeginJob(request, id, &resumed);
  if (!begun.ok()) return begun.status();
  Job& live = **begun;
  auto fail = [&](const absl::Status& s) {
    return EndJob(live, v1::Operation::FAILED, s);
  };
  if (options_.replicas == nullptr) {
    for (int i = 0; i < request.candidates_size(); ++i) {
      if (request.candidates(i).distributed().workers() > 0) {
        return fail(absl::FailedPreconditionError(
            StrCat("candidates[", i,
                   "].distributed: this train service has no train replicas to "
                   "spread the shards over (--train_replicas)")));
      }
    }
  }
  // Trials on replicas read their rows there: here only the lineage.
  auto data = LoadData(live.job, options_.replicas == nullptr);
  if (!data.ok()) return fail(data.status());
  if (auto s = PlanTrials(live, **data, request, resumed); !s.ok())
    return fail(s);
  const int threads = request.threads_per_candidate() > 0
                          ? request.threads_per_candidate()
                          : options_.threads_per_candidate;
  absl::Status trials = RunTrials(live, **data, threads, progress);
  if (progress.Cancelled()) {
    return EndJob(live, v1::Operation::CANCELLED,
                  absl::CancelledError("training job cancelled"));
  }
  if (!trials.ok()) return fail(trials);
  v1::TrainingJob snapshot;
  {
    std::lock_guard lock(live.mu);
    snapshot = live.job;
  }
  auto result = BestOf(request, snapshot, **data);
  if (!result.ok()) return fail(result.status());
  {
    std::lock_guard lock(live.mu);
    live.job.set_best_model(result->best_model());
  }
  if (auto s = EndJob(live, v1::Operation::SUCCEEDED, absl::OkStatus());
      !s.ok())
    return s;
  return result;
}

}  // namespace mlpipe::train
