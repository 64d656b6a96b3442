// One trial: a fit (with checkpoints, resumable) of one setting of a
// candidate, scored on the eval part or by cross-validation; here or for a
// coordinating replica (TrainTrial).
#include <cmath>

#include "common/eval/score.h"
#include "common/ml/model.h"
#include "common/util/strings.h"
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

absl::StatusOr<Trainer::Outcome> Trainer::RunTrialHere(
    const Data& data, const v1::TrainingJob& job, const v1::Trial& trial,
    bool final_fit, int threads, const std::function<bool()>& cancelled,
    const std::function<void(const v1::Trial&)>& on_progress) {
  Outcome out;
  out.trial = trial;
  out.trial.set_worker(options_.worker_id);
  const auto& r = job.request();
  const v1::Task task = data.resolved.task;
  const std::string& metric = data.resolved.metric;
  const int every = r.checkpoint_every() > 0 ? r.checkpoint_every()
                                             : options_.checkpoint_every;
  auto& m = Metrics::Get();
  int candidate_index = 0;
  for (int i = 0; i < r.candidates_size(); ++i) {
    if (r.candidates(i).name() == trial.candidate()) candidate_index = i;
  }
  const std::string where = StrCat("candidates[", candidate_index, "].params");

  // One fit with checkpoints under `key`, progress into the trial.
  std::vector<double> train_predictions;
  auto fit = [&](const ml::TrainingData& train, const ml::TrainingData* eval,
                 const std::string& key)
      -> absl::StatusOr<std::unique_ptr<ml::Model>> {
    ml::FitOptions o;
    o.train_predictions = &train == &data.train ? &train_predictions : nullptr;
    o.task = task;
    o.threads = threads;
    o.eval = eval;
    o.checkpoint_every = every;
    std::optional<ml::Checkpoint> resume;
    if (auto bytes = store_->Get(kCheckpoints, key); bytes.ok()) {
      v1::TrialCheckpoint cp;
      if (cp.ParseFromString(*bytes)) {
        resume = ml::Checkpoint{cp.iteration(), cp.state()};
        o.resume = &*resume;
        out.trial.set_resumed_from(cp.iteration());
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
      if (cancelled()) return absl::CancelledError("training job cancelled");
      out.trial.set_iteration(p.iteration);
      out.trial.set_iterations(p.iterations);
      if (!std::isnan(p.loss)) out.trial.set_loss(p.loss);
      if (on_progress) on_progress(out.trial);
      return absl::OkStatus();
    };
    const auto started = Clock::now();
    auto model = ml::Fit(trial.algorithm(), trial.params(), where, train, o);
    double s = Seconds(started);
    out.fit_seconds += s;
    m.seconds.Add({{"algorithm", trial.algorithm()}}, FitBuckets()).Observe(s);
    if (model.ok())
      (void)store_->Put(kCheckpoints, key, "");  // Done: no resume.
    return model;
  };

  const bool cv = r.search().folds() > 0;
  if (cv && !final_fit) {
    double sum = 0;
    int scored = 0;
    for (int k = 0; k < r.search().folds(); ++k) {
      ml::TrainingData fold_train = FoldRows(data.train, data.folds, k, false);
      ml::TrainingData holdout = FoldRows(data.train, data.folds, k, true);
      if (fold_train.rows() == 0 || holdout.rows() == 0) {
        out.trial.add_fold_scores(NAN);
        continue;
      }
      auto model = fit(fold_train, nullptr, StrCat(trial.id(), "/fold", k));
      if (!model.ok()) return model.status();
      auto scores = eval::Score(**model, holdout, threads);
      if (!scores.ok()) return scores.status();
      double v = eval::Find(*scores, metric);
      out.trial.add_fold_scores(v);
      if (!std::isnan(v)) {
        sum += v;
        ++scored;
      }
    }
    out.trial.set_score(scored > 0 ? sum / scored : NAN);
    return out;
  }
  const ml::TrainingData* eval = data.eval.rows() > 0 ? &data.eval : nullptr;
  auto model = fit(data.train, eval,
                   final_fit ? StrCat(trial.id(), "/final") : trial.id());
  if (!model.ok()) return model.status();
  out.learned = (*model)->Parameters();
  if (eval != nullptr) {
    auto scores = eval::Score(**model, *eval, threads);
    if (!scores.ok()) return scores.status();
    out.eval_metrics = *scores;
  }
  auto train_scores = eval::Score(
      **model, data.train, threads,
      train_predictions.empty() ? std::nullopt
                                : std::optional(std::move(train_predictions)));
  if (!train_scores.ok()) return train_scores.status();
  out.train_metrics = *train_scores;
  if (!final_fit) {
    // Scored on the eval part (or, for clustering without one, the train part).
    const auto& scored = eval != nullptr ? out.eval_metrics : out.train_metrics;
    out.trial.set_score(eval::Find(scored, metric));
    out.trial.mutable_metrics()->Assign(scored.begin(), scored.end());
  }
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
    auto loaded = LoadData(request.job());
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

}  // namespace mlpipe::train
