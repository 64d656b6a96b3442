// One trial: a fit (with checkpoints, resumable) of one setting of a
// candidate, scored on the eval part or by cross-validation; here or for a
// coordinating replica (TrainTrial).
#include <cmath>
#include <functional>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "common/eval/score.h"
#include "common/ml/model.h"
#include "common/util/memory.h"
#include "common/util/strings.h"
#include "services/train/shard.h"
#include "services/train/trainer_internal.h"

namespace mlpipe::train {
namespace {

// Rows of `data` whose fold is (holdout) / is not (training side) `fold`.
ml::TrainingData FoldRows(const ml::TrainingData& data,
                          const std::vector<uint8_t>& folds, int fold,
                          bool holdout) {
  ml::TrainingData out;
  out.x.cols = data.x.cols;
  out.num_classes = data.num_classes;
  out.features = data.features;
  for (size_t i = 0; i < data.rows(); ++i) {
    if ((folds[i] == fold) != holdout) continue;
    out.x.values.insert(out.x.values.end(), data.x.Row(i),
                        data.x.Row(i) + data.x.cols);
    if (!data.y.empty()) out.y.push_back(data.y[i]);
    if (!data.weights.empty()) out.weights.push_back(data.weights[i]);
    ++out.x.rows;
  }
  return out;
}

}  // namespace

namespace {

using internal::Data;
using internal::Outcome;

// Fits of one trial's setting, each with checkpoints under its own key (so
// a fit cut short resumes), their progress and time into the outcome.
class TrialFitter {
 public:
  TrialFitter(storage::Store* store, const v1::Trial& trial, std::string where,
              ml::FitOptions base, const std::function<bool()>& cancelled,
              const std::function<void(const v1::Trial&)>& on_progress,
              Outcome& out)
      : store_(store),
        trial_(trial),
        where_(std::move(where)),
        base_(std::move(base)),
        cancelled_(cancelled),
        on_progress_(on_progress),
        out_(out) {}

  // `train_predictions`: where the fit leaves its predictions of `train`
  // (null: not needed).
  absl::StatusOr<std::unique_ptr<ml::Model>> Fit(
      const ml::TrainingData& train, const ml::TrainingData* eval,
      const std::string& key, std::vector<double>* train_predictions) {
    auto& m = Metrics::Get();
    ml::FitOptions o = base_;
    o.train_predictions = train_predictions;
    o.eval = eval;
    std::optional<ml::Checkpoint> resume;
    if (auto bytes = store_->Get(kCheckpoints, key); bytes.ok()) {
      v1::TrialCheckpoint cp;
      if (cp.ParseFromString(*bytes)) {
        resume = ml::Checkpoint{cp.iteration(), cp.state()};
        o.resume = &*resume;
        out_.trial.set_resumed_from(cp.iteration());
        m.resumed.Increment();
      }
    }
    o.on_checkpoint = [&](const ml::Checkpoint& cp) {
      v1::TrialCheckpoint stored;
      stored.set_iteration(cp.iteration);
      stored.set_state(cp.state);
      return store_->Put(kCheckpoints, key, stored.SerializeAsString());
    };
    o.on_progress = [&](const ml::FitProgress& p) {
      if (cancelled_()) return absl::CancelledError("training job cancelled");
      out_.trial.set_iteration(p.iteration);
      out_.trial.set_iterations(p.iterations);
      if (!std::isnan(p.loss)) out_.trial.set_loss(p.loss);
      if (on_progress_) on_progress_(out_.trial);
      return absl::OkStatus();
    };
    const auto started = Clock::now();
    auto model = ml::Fit(trial_.algorithm(), trial_.params(), where_, train, o);
    double s = Seconds(started);
    out_.fit_seconds += s;
    m.seconds.Add({{"algorithm", trial_.algorithm()}}, FitBuckets()).Observe(s);
    if (model.ok())
      (void)store_->Put(kCheckpoints, key, "");  // Done: no resume.
    return model;
  }

 private:
  storage::Store* const store_;
  const v1::Trial& trial_;
  const std::string where_;
  const ml::FitOptions base_;
  const std::function<bool()>& cancelled_;
  const std::function<void(const v1::Trial&)>& on_progress_;
  Outcome& out_;
};

// The trial's score: the mean of its folds' scores by `metric`.
absl::Status CrossValidate(TrialFitter& fitter, const Data& data, int folds,
                           int threads, Outcome& out) {
  double sum = 0;
  int scored = 0;
  for (int k = 0; k < folds; ++k) {
    ml::TrainingData fold_train = FoldRows(data.train, data.folds, k, false);
    ml::TrainingData holdout = FoldRows(data.train, data.folds, k, true);
    if (fold_train.rows() == 0 || holdout.rows() == 0) {
      out.trial.add_fold_scores(NAN);
      continue;
    }
    auto model = fitter.Fit(fold_train, nullptr,
                            StrCat(out.trial.id(), "/fold", k), nullptr);
    if (!model.ok()) return model.status();
    auto scores = eval::Score(**model, holdout, threads);
    if (!scores.ok()) return scores.status();
    double v = eval::Find(*scores, data.resolved.metric);
    out.trial.add_fold_scores(v);
    if (!std::isnan(v)) {
      sum += v;
      ++scored;
    }
  }
  out.trial.set_score(scored > 0 ? sum / scored : NAN);
  return absl::OkStatus();
}

// One fit on the whole train part, its parameters and metrics (the score:
// on the eval part, or for clustering without one the train part).
absl::Status FitWhole(TrialFitter& fitter, const Data& data, bool final_fit,
                      int threads, Outcome& out) {
  const ml::TrainingData* eval = data.eval.rows() > 0 ? &data.eval : nullptr;
  std::vector<double> train_predictions;
  auto model =
      fitter.Fit(data.train, eval,
                 final_fit ? StrCat(out.trial.id(), "/final") : out.trial.id(),
                 &train_predictions);
  if (!model.ok()) return model.status();
  out.learned = (*model)->Parameters();
  // With the fit's own predictions of the training rows, their metrics (one
  // thread: sorts for AUC and precision-recall) are worked out beside the
  // eval rows' prediction and metrics; the model is only read then.
  using Scores = absl::StatusOr<std::vector<v1::MetricValue>>;
  std::future<Scores> train_future;
  if (!train_predictions.empty()) {
    train_future = std::async(
        std::launch::async,
        [&model, &data, threads, p = std::move(train_predictions)]() mutable {
          return eval::Score(**model, data.train, threads, std::move(p));
        });
  }
  if (eval != nullptr) {
    auto scores = eval::Score(**model, *eval, threads);
    if (!scores.ok()) return scores.status();  // Waits for the train side.
    out.eval_metrics = *scores;
  }
  Scores train_scores = train_future.valid()
                            ? train_future.get()
                            : eval::Score(**model, data.train, threads);
  if (!train_scores.ok()) return train_scores.status();
  out.train_metrics = *train_scores;
  if (!final_fit) {
    const auto& scored = eval != nullptr ? out.eval_metrics : out.train_metrics;
    out.trial.set_score(eval::Find(scored, data.resolved.metric));
    out.trial.mutable_metrics()->Assign(scored.begin(), scored.end());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Trainer::Outcome> Trainer::RunTrialHere(
    const Data& data, const v1::TrainingJob& job, const v1::Trial& trial,
    bool final_fit, int threads, const std::function<bool()>& cancelled,
    const std::function<void(const v1::Trial&)>& on_progress) {
  // A fit frees and allocates its buffers every round (XGBoost's gradients,
  // row partitions and histograms): kept for the next round, not faulted in
  // afresh.
  util::HoldFreedMemory hold;
  Outcome out;
  out.trial = trial;
  out.trial.set_worker(options_.worker_id);
  out.train_rows = static_cast<int64_t>(data.train.rows());
  out.eval_rows = static_cast<int64_t>(data.eval.rows());
  out.read_seconds = data.read_seconds;
  const auto& r = job.request();
  int candidate_index = 0;
  for (int i = 0; i < r.candidates_size(); ++i) {
    if (r.candidates(i).name() == trial.candidate()) candidate_index = i;
  }
  ml::FitOptions base;
  base.task = data.resolved.task;
  base.threads = threads;
  base.checkpoint_every = r.checkpoint_every() > 0 ? r.checkpoint_every()
                                                   : options_.checkpoint_every;
  TrialFitter fitter(store_, trial,
                     StrCat("candidates[", candidate_index, "].params"),
                     std::move(base), cancelled, on_progress, out);
  absl::Status s =
      r.search().folds() > 0 && !final_fit
          ? CrossValidate(fitter, data, r.search().folds(), threads, out)
          : FitWhole(fitter, data, final_fit, threads, out);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::TrainTrialResponse> Trainer::TrainTrial(
    const v1::TrainTrialRequest& request,
    const std::function<bool()>& cancelled) {
  std::shared_ptr<Data> data;
  {
    std::lock_guard lock(replica_data_mu_);
    if (replica_data_ && replica_job_ == request.job().id())
      data = replica_data_;
  }
  if (!data) {
    auto loaded = LoadData(request.job(), true);
    if (!loaded.ok()) return loaded.status();
    data = *loaded;
    std::lock_guard lock(replica_data_mu_);
    replica_job_ = request.job().id();
    replica_data_ = data;
  }
  int threads = request.threads() > 0 ? request.threads()
                                      : options_.threads_per_candidate;
  auto outcome = RunTrialHere(*data, request.job(), request.trial(),
                              request.final_fit(), threads, cancelled, nullptr);
  if (!outcome.ok()) return outcome.status();
  v1::TrainTrialResponse resp;
  *resp.mutable_trial() = outcome->trial;
  if (outcome->learned) *resp.mutable_model() = FittedModel(*outcome);
  return resp;
}

absl::Status Trainer::TrainShard(
    const v1::TrainShardRequest& request,
    const std::function<absl::Status(const v1::ShardReport&)>& report,
    const std::function<bool()>& cancelled) {
  if (options_.shard_command.empty()) {
    return absl::FailedPreconditionError(
        StrCat("train replica ", options_.worker_id,
               " runs no shards: it reaches split or prep in its own process "
               "(give it --split_address and --prep_address)"));
  }
  v1::ShardReport started;
  started.set_started(options_.worker_id);
  if (auto s = report(started); !s.ok()) return s;
  return RunShardProcess(options_.shard_command, request, report, cancelled);
}

}  // namespace mlpipe::train
