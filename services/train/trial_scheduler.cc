// A job's trials: planned from every candidate's search space, run on a
// bounded set of threads (here or on the replicas), each candidate's model
// made once its trials have ended.
#include <condition_variable>

#include "absl/strings/str_format.h"
#include "clients/train_request.h"
#include "common/util/strings.h"
#include "common/util/task_pool.h"
#include "google/protobuf/util/time_util.h"
#include "services/train/trainer_internal.h"

namespace mlpipe::train {

using google::protobuf::util::TimeUtil;

absl::Status Trainer::PlanTrials(Job& live, const Data& data,
                                 const v1::StartTrainingRequest& request,
                                 bool resumed) {
  std::lock_guard lock(live.mu);
  auto& job = live.job;
  job.set_dataset(data.split.dataset());
  job.set_feature_set(data.fs.id());
  job.set_task(TaskName(data.resolved.task));
  job.set_metric(data.resolved.metric);
  if (!resumed || job.trials_size() == 0) {
    job.clear_trials();
    for (int i = 0; i < request.candidates_size(); ++i) {
      const auto& c = request.candidates(i);
      if (!request.no_cache() && ReuseCandidate(job, data, c)) continue;
      auto settings = ExpandTrials(c, request.search(), i);
      if (!settings.ok()) return settings.status();
      for (size_t t = 0; t < settings->size(); ++t) {
        v1::Trial* trial = job.add_trials();
        trial->set_id(StrCat(job.id(), "/", c.name(), "/", t));
        trial->set_job(job.id());
        trial->set_candidate(c.name());
        trial->set_algorithm(c.algorithm());
        trial->set_index(static_cast<int>(t));
        *trial->mutable_params() = (*settings)[t];
        trial->set_state(v1::Operation::PENDING);
        trial->set_metric(data.resolved.metric);
      }
    }
  }
  // Trials running when a previous process stopped run again.
  for (auto& t : *job.mutable_trials()) {
    if (t.state() == v1::Operation::RUNNING)
      t.set_state(v1::Operation::PENDING);
  }
  Changed(live, true);
  return absl::OkStatus();
}

// Runs a job's pending trials as tasks of a pool of `parallel_trials`
// threads, here or on the replicas, and fits each candidate's model once its
// trials have ended. The first bad-input failure, or a cancellation, stops it.
class Trainer::TrialScheduler {
 public:
  TrialScheduler(Trainer& trainer, Job& live, const Data& data, int threads,
                 ops::Progress& progress)
      : trainer_(trainer),
        live_(live),
        data_(data),
        threads_(threads),
        progress_(progress) {}

  // OK, or the failure that stopped the trials.
  absl::Status Run() {
    Plan();
    // Candidates whose trials all ended before a restart still need a model.
    for (const auto& [candidate, n] : left_) {
      if (n == 0) Finish(candidate);
    }
    const int workers =
        std::max(1, std::min<int>(trainer_.options_.parallel_trials,
                                  static_cast<int>(queue_.size())));
    {
      TaskPool pool(workers);
      for (int index : queue_) {
        pool.Post([this, index] {
          if (!Stopped()) RunOne(index);
          std::lock_guard lock(mu_);
          if (++ended_ == queue_.size()) all_ended_.notify_all();
        });
      }
      std::unique_lock lock(mu_);
      all_ended_.wait(lock, [this] { return ended_ == queue_.size(); });
    }
    std::lock_guard lock(mu_);
    return failure_;
  }

 private:
  // The trials still to run, and per candidate how many are left.
  void Plan() {
    std::lock_guard lock(live_.mu);
    for (int i = 0; i < live_.job.trials_size(); ++i) {
      const auto& t = live_.job.trials(i);
      ++total_;
      if (live_.job.candidate_models().contains(t.candidate())) {
        ++done_;
        continue;
      }
      left_[t.candidate()];  // Present even when every trial already ended.
      if (t.state() == v1::Operation::PENDING) {
        queue_.push_back(i);
        ++left_[t.candidate()];
      } else {
        ++done_;
      }
    }
  }

  bool Stopped() {
    std::lock_guard lock(mu_);
    return !failure_.ok() || progress_.Cancelled();
  }
  void Fail(absl::Status s) {
    std::lock_guard lock(mu_);
    if (failure_.ok()) failure_ = std::move(s);
  }
  void Finish(const std::string& candidate) {
    if (Stopped()) return;
    if (auto s = trainer_.FinishCandidate(live_, data_, candidate, progress_);
        !s.ok())
      Fail(s);
  }

  void RunOne(int index) {
    const v1::Trial trial = MarkRunning(index);
    const auto started = Clock::now();
    absl::StatusOr<Outcome> outcome = Distributed(trial) ? Shards(index, trial)
                                      : trainer_.options_.replicas != nullptr
                                          ? OnReplica(trial)
                                          : Here(index, trial);
    absl::Status saved = absl::OkStatus();
    if (outcome.ok() && outcome->learned) saved = Keep(trial, *outcome);
    const bool candidate_done = Record(index, outcome, saved, started);
    if (candidate_done) Finish(trial.candidate());
  }

  v1::Trial MarkRunning(int index) {
    std::lock_guard lock(live_.mu);
    auto* t = live_.job.mutable_trials(index);
    t->set_state(v1::Operation::RUNNING);
    *t->mutable_started_at() = TimeUtil::GetCurrentTime();
    t->set_worker(trainer_.options_.replicas != nullptr
                      ? "replicas"
                      : trainer_.options_.worker_id);
    trainer_.Changed(live_, true);
    return *t;
  }

  absl::StatusOr<Outcome> OnReplica(const v1::Trial& trial) {
    v1::TrainTrialRequest req;
    {
      std::lock_guard lock(live_.mu);
      *req.mutable_job() = live_.job;
    }
    *req.mutable_trial() = trial;
    req.set_threads(threads_);
    auto resp =
        trainer_.options_.replicas->Run(req, [this] { return Stopped(); });
    if (!resp.ok()) return resp.status();
    Outcome o;
    o.trial = resp->trial();
    if (resp->has_model()) {  // FittedModel's inverse.
      const v1::ModelArtifact& model = resp->model();
      o.learned = model.learned();
      o.train_metrics = {model.train_metrics().begin(),
                         model.train_metrics().end()};
      o.eval_metrics = {model.eval_metrics().begin(),
                        model.eval_metrics().end()};
      o.fit_seconds = model.timings().fit_seconds();
      o.read_seconds = model.timings().read_seconds();
      o.train_rows = model.train_rows();
      o.eval_rows = model.eval_rows();
    }
    return o;
  }

  bool Distributed(const v1::Trial& trial) {
    for (const auto& c : live_.job.request().candidates()) {
      if (c.name() == trial.candidate()) return c.distributed().workers() > 0;
    }
    return false;
  }

  absl::StatusOr<Outcome> Shards(int index, const v1::Trial& trial) {
    v1::TrainingJob job;
    {
      std::lock_guard lock(live_.mu);
      job = live_.job;
    }
    return trainer_.RunDistributed(
        data_, job, trial, threads_, [this] { return Stopped(); },
        [this, index](const v1::Trial& t) { OnProgress(index, t); });
  }

  absl::StatusOr<Outcome> Here(int index, const v1::Trial& trial) {
    return trainer_.RunTrialHere(
        data_, live_.job, trial, false, threads_, [this] { return Stopped(); },
        [this, index](const v1::Trial& t) { OnProgress(index, t); });
  }

  // A running trial's progress into the job and the operation.
  void OnProgress(int index, const v1::Trial& t) {
    std::lock_guard lock(live_.mu);
    auto* dst = live_.job.mutable_trials(index);
    dst->set_iteration(t.iteration());
    dst->set_iterations(t.iterations());
    dst->set_loss(t.loss());
    dst->set_resumed_from(t.resumed_from());
    trainer_.Changed(live_, false);
    // Trials done stay the operation's count; the fraction counts this
    // trial's share, the message says where it is.
    const double part =
        t.iterations() > 0 ? static_cast<double>(t.iteration()) / t.iterations()
                           : 0.0;
    progress_.Update(
        done_, total_,
        StrCat(done_, " of ", total_, " trials done; ", t.candidate(),
               " trial ", t.index(), ": iteration ", t.iteration(), "/",
               t.iterations(),
               t.loss() != 0 ? absl::StrFormat(", loss %.4g", t.loss()) : ""),
        total_ > 0 ? (done_ + part) / total_ : -1);
  }

  // The trial's model, kept for its candidate's final fit.
  absl::Status Keep(const v1::Trial& trial, const Outcome& outcome) {
    return trainer_.store_->Put(kTrialModels, trial.id(),
                                FittedModel(outcome).SerializeAsString());
  }

  // Records how trial `index` ended; true when it was its candidate's last.
  bool Record(int index, const absl::StatusOr<Outcome>& outcome,
              const absl::Status& saved, Clock::time_point started) {
    v1::Operation::State state;
    bool candidate_done = false;
    std::string algorithm;
    {
      std::lock_guard lock(live_.mu);
      auto* t = live_.job.mutable_trials(index);
      if (outcome.ok()) *t = outcome->trial;
      t->set_seconds(Seconds(started));
      *t->mutable_ended_at() = TimeUtil::GetCurrentTime();
      absl::Status st = outcome.ok() ? saved : outcome.status();
      if (st.ok()) {
        state = v1::Operation::SUCCEEDED;
      } else if (absl::IsCancelled(st) || progress_.Cancelled()) {
        state = v1::Operation::CANCELLED;
      } else {
        state = v1::Operation::FAILED;
        t->set_error(std::string(st.message()));
      }
      if (state == v1::Operation::CANCELLED) {
        t->set_state(v1::Operation::PENDING);  // Runs again if resumed.
      } else {
        t->set_state(state);
        candidate_done = --left_[t->candidate()] == 0;
        ++done_;
      }
      algorithm = t->algorithm();
      trainer_.Changed(live_, true);
      progress_.Update(done_, total_,
                       StrCat(t->candidate(), " trial ", t->index(), ": ",
                              v1::Operation::State_Name(state), " ",
                              t->metric(), " ", t->score()));
      if (!st.ok() &&
          (absl::IsInvalidArgument(st) || absl::IsFailedPrecondition(st))) {
        Fail(st);  // Bad input: every trial would fail alike.
      }
    }
    Metrics::Get()
        .trials
        .Add({{"algorithm", algorithm},
              {"state", v1::Operation::State_Name(state)}})
        .Increment();
    return candidate_done;
  }

  Trainer& trainer_;
  Job& live_;
  const Data& data_;
  const int threads_;
  ops::Progress& progress_;
  // Read and written under live_.mu (Plan, Record).
  std::map<std::string, int> left_;
  int total_ = 0, done_ = 0;
  std::vector<int> queue_;  // Written by Plan only.
  std::mutex mu_;
  std::condition_variable all_ended_;
  size_t ended_ = 0;      // GUARDED_BY(mu_): tasks of queue_ that ended.
  absl::Status failure_;  // GUARDED_BY(mu_): stops the trials.
};

absl::Status Trainer::RunTrials(Job& live, const Data& data, int threads,
                                ops::Progress& progress) {
  return TrialScheduler(*this, live, data, threads, progress).Run();
}

}  // namespace mlpipe::train
