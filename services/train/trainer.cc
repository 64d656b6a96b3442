#include "services/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <optional>
#include <set>
#include <thread>

#include "clients/train_request.h"
#include "common/eval/score.h"
#include "common/metrics/metrics.h"
#include "common/ml/model.h"
#include "common/ml/table_data.h"
#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::train {
namespace {

using google::protobuf::util::TimeUtil;
using Clock = std::chrono::steady_clock;

constexpr char kJobs[] = "jobs";
constexpr char kCheckpoints[] = "checkpoints";
constexpr char kTrialModels[] = "trial_models";

struct Metrics {
  prometheus::Family<prometheus::Counter>& jobs;
  prometheus::Family<prometheus::Counter>& trials;
  prometheus::Family<prometheus::Histogram>& seconds;
  prometheus::Gauge& running;
  prometheus::Counter& resumed;
  static Metrics& Get() {
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
    };
    return *m;
  }
};

const prometheus::Histogram::BucketBoundaries& FitBuckets() {
  static const auto* b = new prometheus::Histogram::BucketBoundaries{
      0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 7200};
  return *b;
}

v1::Task ParseTask(const std::string& t) {
  if (t == "binary") return v1::BINARY;
  if (t == "multiclass") return v1::MULTICLASS;
  if (t == "regression") return v1::REGRESSION;
  if (t == "clustering") return v1::CLUSTERING;
  return v1::TASK_UNSPECIFIED;
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

// What a job trains on, decided once from its request and split.
struct Resolved {
  v1::Task task = v1::TASK_UNSPECIFIED;
  std::string label;
  std::vector<std::string> classes;
  std::string metric;
};

absl::StatusOr<Resolved> Resolve(const v1::StartTrainingRequest& r,
                                 const v1::Split& split,
                                 const v1::FeatureSet& fs) {
  Resolved out;
  bool all_kmeans = true;
  for (const auto& c : r.candidates()) all_kmeans &= c.algorithm() == "kmeans";
  out.task = ParseTask(r.task());
  const std::string split_label = Or(split.spec().label(), fs.label());
  if (out.task == v1::TASK_UNSPECIFIED) {
    if (all_kmeans) {
      out.task = v1::CLUSTERING;
    } else if (split.label_kind() == "continuous") {
      out.task = v1::REGRESSION;
    } else if (split.label_kind() == "classes") {
      std::set<std::string> seen;
      for (const auto& p : split.parts()) {
        for (const auto& c : p.classes()) seen.insert(c.value());
      }
      out.task = seen.size() > 2 ? v1::MULTICLASS : v1::BINARY;
    } else {
      return absl::FailedPreconditionError(
          StrCat("label: split ", split.id(),
                 " has no label; make the split with one "
                 "(or set task: clustering)"));
    }
  }
  if (out.task != v1::CLUSTERING) {
    out.label = Or(r.label(), split_label);
    if (out.label.empty()) {
      return absl::InvalidArgumentError(
          "label: required (the split and feature set have none)");
    }
  }
  if (out.task == v1::BINARY || out.task == v1::MULTICLASS) {
    if (out.label != split_label) {
      return absl::InvalidArgumentError(StrCat(
          "label: split ", split.id(), " was made with label ", split_label,
          "; classifying by ", out.label, " needs a split made with it"));
    }
    // The split's classes, in its order (numbers numerically, text by name).
    std::vector<std::string> classes;
    for (const auto& p : split.parts()) {
      for (const auto& c : p.classes()) {
        if (std::find(classes.begin(), classes.end(), c.value()) ==
            classes.end())
          classes.push_back(c.value());
      }
    }
    bool numeric = true;
    for (const auto& c : classes) {
      double v;
      numeric &= table::ParseNumber(c, &v);
    }
    std::sort(classes.begin(), classes.end(),
              [numeric](const auto& a, const auto& b) {
                if (!numeric) return a < b;
                double x = 0, y = 0;
                table::ParseNumber(a, &x);
                table::ParseNumber(b, &y);
                return x < y;
              });
    if (classes.size() < 2) {
      return absl::FailedPreconditionError(
          StrCat("label ", out.label, ": split ", split.id(), " has ",
                 classes.size(), " class(es); classification needs 2 or more"));
    }
    if (out.task == v1::BINARY && classes.size() != 2) {
      return absl::InvalidArgumentError(StrCat("task: binary, but label ",
                                               out.label, " has ",
                                               classes.size(), " classes"));
    }
    if (!r.positive_class().empty()) {
      if (out.task != v1::BINARY) {
        return absl::InvalidArgumentError(
            "positive_class: only for binary tasks");
      }
      auto it = std::find(classes.begin(), classes.end(), r.positive_class());
      if (it == classes.end()) {
        return absl::InvalidArgumentError(
            StrCat("positive_class: \"", r.positive_class(),
                   "\" is not a class of ", out.label));
      }
      classes.erase(it);
      classes.push_back(r.positive_class());
    }
    out.classes = std::move(classes);
  }
  out.metric = Or(r.search().metric(), eval::HeadlineMetric(out.task));
  const auto& allowed = eval::MetricsFor(out.task);
  if (std::find(allowed.begin(), allowed.end(), out.metric) == allowed.end()) {
    std::string list;
    for (const auto& m : allowed) StrAppend(&list, list.empty() ? "" : ", ", m);
    return absl::InvalidArgumentError(
        StrCat("search.metric: ", out.metric, " does not suit a ",
               TaskName(out.task), " task (", list, ")"));
  }
  for (int i = 0; i < r.candidates_size(); ++i) {
    if (!ml::Supports(r.candidates(i).algorithm(), out.task)) {
      return absl::InvalidArgumentError(
          StrCat("candidates[", i, "].algorithm: ", r.candidates(i).algorithm(),
                 " cannot do a ", TaskName(out.task), " task"));
    }
  }
  return out;
}

bool Better(const std::string& metric, double a, double b) {
  if (std::isnan(b)) return !std::isnan(a);
  if (std::isnan(a)) return false;
  return eval::HigherIsBetter(metric) ? a > b : a < b;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

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

TrainerOptions WithDefaults(TrainerOptions o) {
  if (o.worker_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    o.worker_id = StrCat(host, ":", static_cast<int64_t>(getpid()));
  }
  return o;
}

}  // namespace

struct Trainer::Job {
  std::mutex mu;
  v1::TrainingJob job;  // GUARDED_BY(mu)
  Clock::time_point last_persist;
};

struct Trainer::Data {
  std::string job;
  v1::Split split;
  v1::FeatureSet fs;
  Resolved resolved;
  ml::TrainingData train;
  ml::TrainingData eval;       // Empty without an eval part.
  std::vector<uint8_t> folds;  // One per train row with cross-validation.
  double read_seconds = 0;
};

struct Trainer::Outcome {
  v1::Trial trial;
  std::optional<v1::LearnedParameters> learned;
  std::vector<v1::MetricValue> train_metrics, eval_metrics;
  double fit_seconds = 0;
};

storage::Options Trainer::StorageOptions() {
  storage::Options o;
  o.column_families = {{.name = kJobs},
                       {.name = kCheckpoints, .large_values = true},
                       {.name = kTrialModels, .large_values = true},
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

absl::StatusOr<std::shared_ptr<Trainer::Data>> Trainer::LoadData(
    const v1::TrainingJob& job) {
  const auto started = Clock::now();
  auto data = std::make_shared<Data>();
  data->job = job.id();
  const auto& r = job.request();
  auto split = sources_->GetSplit(r.split());
  if (!split.ok()) return split.status();
  data->split = std::move(*split);
  const std::string fs_id = Or(r.feature_set(), data->split.feature_set());
  if (fs_id.empty()) {
    return absl::InvalidArgumentError(
        StrCat("feature_set: required: split ", r.split(), " is of dataset ",
               data->split.dataset(), " version ", data->split.version(),
               "; name a feature set of that version"));
  }
  auto fs = sources_->GetFeatureSet(fs_id);
  if (!fs.ok()) return fs.status();
  data->fs = std::move(*fs);
  if (data->fs.dataset() != data->split.dataset() ||
      data->fs.version() != data->split.version()) {
    return absl::FailedPreconditionError(
        StrCat("feature_set: ", fs_id, " is of ", data->fs.dataset(),
               " version ", data->fs.version(), ", split ", r.split(), " of ",
               data->split.dataset(), " version ", data->split.version()));
  }
  auto resolved = Resolve(r, data->split, data->fs);
  if (!resolved.ok()) return resolved.status();
  data->resolved = std::move(*resolved);

  auto has_part = [&](const std::string& name) {
    for (const auto& p : data->split.parts()) {
      if (p.name() == name) return true;
    }
    return false;
  };
  const std::string train_part = Or(r.train_part(), "train");
  if (!has_part(train_part)) {
    return absl::InvalidArgumentError(StrCat(
        "train_part: split ", r.split(), " has no part \"", train_part, "\""));
  }
  std::string eval_part = r.eval_part();
  if (eval_part.empty() && has_part("eval")) eval_part = "eval";
  if (!eval_part.empty() && !has_part(eval_part)) {
    return absl::InvalidArgumentError(StrCat(
        "eval_part: split ", r.split(), " has no part \"", eval_part, "\""));
  }
  const int folds = r.search().folds();
  if (folds > 0) {
    if (data->split.spec().folds() != folds ||
        Or(data->split.spec().fold_part(), data->split.parts(0).name()) !=
            train_part) {
      return absl::FailedPreconditionError(
          StrCat("search.folds: ", folds,
                 "-fold cross-validation needs a split with folds: ", folds,
                 " on part ", train_part, "; split ", r.split(), " has ",
                 data->split.spec().folds(), " folds"));
    }
  } else if (eval_part.empty()) {
    return absl::FailedPreconditionError(StrCat(
        "eval_part: split ", r.split(),
        " has no eval part to score trials on; add one or use search.folds"));
  }

  // One pass over the feature set routes every row to its part by the
  // split's assignments (ReadSplit would read and filter the whole feature
  // set once per part).
  if (data->fs.num_rows() != data->split.num_rows()) {
    return absl::FailedPreconditionError(
        StrCat("feature_set: ", fs_id, " has ", data->fs.num_rows(),
               " rows, split ", r.split(), " ", data->split.num_rows()));
  }
  int train_index = -1, eval_index = -1;
  for (int i = 0; i < data->split.parts_size(); ++i) {
    if (data->split.parts(i).name() == train_part) train_index = i;
    if (data->split.parts(i).name() == eval_part) eval_index = i;
  }
  auto chunks = sources_->ReadAssignments(r.split());
  if (!chunks.ok()) return chunks.status();
  std::vector<uint8_t> parts, row_folds;
  if (auto s = ml::FlattenAssignments(*chunks, data->split.num_rows(), &parts,
                                      folds > 0 ? &row_folds : nullptr);
      !s.ok()) {
    return absl::DataLossError(StrCat(r.split(), ": ", s.message()));
  }
  const std::string& label = data->resolved.label;
  ml::PartRowsSpec spec;
  spec.assignment = &parts;
  spec.folds = folds > 0 ? &row_folds : nullptr;
  spec.parts = {train_index};
  spec.reserve = {static_cast<size_t>(data->split.parts(train_index).rows())};
  if (eval_index >= 0) {
    spec.parts.push_back(eval_index);
    spec.reserve.push_back(data->split.parts(eval_index).rows());
  }
  spec.features.assign(data->fs.features().begin(), data->fs.features().end());
  spec.label = label;
  std::vector<std::string> columns = spec.features;
  if (!label.empty()) columns.push_back(label);
  v1::ReadFeaturesRequest req;
  req.set_feature_set(fs_id);
  *req.mutable_columns() = {columns.begin(), columns.end()};
  req.set_max_rows_per_frame(options_.frame_rows);
  auto reader = sources_->ReadFeatures(req);
  if (!reader.ok()) return reader.status();
  auto read = ml::ReadParts(
      **reader, spec,
      ml::LabelEncoder(data->resolved.task, data->resolved.classes));
  if (!read.ok()) return read.status();
  data->train = std::move((*read)[0].data);
  data->folds = std::move((*read)[0].folds);
  if (eval_index >= 0) data->eval = std::move((*read)[1].data);
  if (data->train.rows() == 0) {
    return absl::FailedPreconditionError(StrCat("train_part: part ", train_part,
                                                " of split ", r.split(),
                                                " has no labelled rows"));
  }
  data->read_seconds = Seconds(started);
  return data;
}

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
  if (outcome->learned) {
    auto* model = resp.mutable_model();
    *model->mutable_learned() = *outcome->learned;
    model->mutable_train_metrics()->Assign(outcome->train_metrics.begin(),
                                           outcome->train_metrics.end());
    model->mutable_eval_metrics()->Assign(outcome->eval_metrics.begin(),
                                          outcome->eval_metrics.end());
    model->mutable_timings()->set_fit_seconds(outcome->fit_seconds);
  }
  return resp;
}

absl::Status Trainer::FinishCandidate(Job& live, const Data& data,
                                      const std::string& candidate,
                                      ops::Progress& progress) {
  v1::TrainingJob job;
  {
    std::lock_guard lock(live.mu);
    if (live.job.candidate_models().contains(candidate))
      return absl::OkStatus();
    job = live.job;
  }
  const auto& r = job.request();
  const std::string& metric = data.resolved.metric;
  const v1::Trial* best = nullptr;
  std::string first_error;
  double search_seconds = 0;
  for (const auto& t : job.trials()) {
    if (t.candidate() != candidate) continue;
    search_seconds += t.seconds();
    if (t.state() != v1::Operation::SUCCEEDED) {
      if (first_error.empty()) first_error = t.error();
      continue;
    }
    if (best == nullptr || Better(metric, t.score(), best->score())) best = &t;
  }
  if (best == nullptr) {
    return absl::FailedPreconditionError(
        StrCat("candidate ", candidate, ": every trial failed: ", first_error));
  }
  // The final model: the best trial's (scored on the eval part), or with
  // cross-validation a fit of the best setting on the whole train part.
  v1::ModelArtifact fitted;
  if (r.search().folds() > 0) {
    int threads = r.threads_per_candidate() > 0
                      ? r.threads_per_candidate()
                      : options_.threads_per_candidate;
    auto cancelled = [&progress] { return progress.Cancelled(); };
    if (options_.replicas != nullptr) {
      v1::TrainTrialRequest req;
      *req.mutable_job() = job;
      *req.mutable_trial() = *best;
      req.set_final_fit(true);
      req.set_threads(threads);
      auto resp = options_.replicas->Run(req, cancelled);
      if (!resp.ok()) return resp.status();
      fitted = resp->model();
    } else {
      auto outcome =
          RunTrialHere(data, job, *best, true, threads, cancelled, nullptr);
      if (!outcome.ok()) return outcome.status();
      *fitted.mutable_learned() = *outcome->learned;
      fitted.mutable_train_metrics()->Assign(outcome->train_metrics.begin(),
                                             outcome->train_metrics.end());
      fitted.mutable_eval_metrics()->Assign(outcome->eval_metrics.begin(),
                                            outcome->eval_metrics.end());
      fitted.mutable_timings()->set_fit_seconds(outcome->fit_seconds);
    }
  } else {
    auto bytes = store_->Get(kTrialModels, best->id());
    if (!bytes.ok()) return bytes.status();
    if (!fitted.ParseFromString(*bytes)) {
      return absl::DataLossError(
          StrCat("trial ", best->id(), ": stored model is unreadable"));
    }
  }
  auto transform = sources_->GetTransform(data.fs.transform_id());
  if (!transform.ok()) return transform.status();

  v1::ModelArtifact a;
  a.set_name(Or(r.model(), data.split.dataset()));
  a.set_candidate(candidate);
  a.set_algorithm(best->algorithm());
  a.set_task(data.resolved.task);
  *a.mutable_params() = best->params();
  *a.mutable_feature_names() = data.fs.features();
  a.set_label(data.resolved.label);
  *a.mutable_classes() = {data.resolved.classes.begin(),
                          data.resolved.classes.end()};
  *a.mutable_learned() = fitted.learned();
  a.set_transform_id(data.fs.transform_id());
  *a.mutable_transform() = std::move(*transform);
  a.set_split_id(data.split.id());
  a.set_feature_set(data.fs.id());
  a.set_dataset(data.split.dataset());
  a.set_dataset_version(data.split.version());
  a.set_job_id(job.id());
  a.set_trial_id(best->id());
  *a.mutable_train_metrics() = fitted.train_metrics();
  *a.mutable_eval_metrics() = fitted.eval_metrics();
  a.mutable_timings()->set_read_seconds(data.read_seconds);
  a.mutable_timings()->set_fit_seconds(fitted.timings().fit_seconds());
  a.mutable_timings()->set_search_seconds(search_seconds);
  a.set_train_rows(data.train.rows());
  a.set_eval_rows(data.eval.rows());
  *a.mutable_created_at() = TimeUtil::GetCurrentTime();
  // Verify the parameters load before they are stored.
  if (auto m = ml::LoadModel(a.task(), a.feature_names_size(), a.classes_size(),
                             a.learned());
      !m.ok()) {
    return m.status();
  }

  auto stored = models_.Add(
      a, [&](const v1::ModelArtifact& added, storage::WriteBatch batch) {
        v1::TrainingJob updated;
        {
          std::lock_guard lock(live.mu);
          (*live.job.mutable_candidate_models())[candidate] = added.id();
          live.job.add_models(added.id());
          updated = live.job;
        }
        batch.Put(kJobs, updated.id(), updated.SerializeAsString());
        // The candidate's leftovers: its trial models and checkpoints.
        for (const auto& t : updated.trials()) {
          if (t.candidate() != candidate) continue;
          batch.Delete(kTrialModels, t.id());
        }
        batch.DeleteRange(
            kCheckpoints, StrCat(job.id(), "/", candidate, "/"),
            StrCat(job.id(), "/", candidate, "0"));  // '0' follows '/'.
        auto event = events::EventLog::Make(
            "model.trained", {{"model", added.id()},
                              {"name", added.name()},
                              {"version", std::to_string(added.version())},
                              {"candidate", candidate},
                              {"algorithm", added.algorithm()},
                              {"job", job.id()},
                              {"split", added.split_id()},
                              {"feature_set", added.feature_set()},
                              {"dataset", added.dataset()},
                              {"metric", metric},
                              {"score", StrCat(best->score())}});
        return events_->Commit(std::move(batch), {event}, {.sync = true});
      });
  if (!stored.ok()) return stored.status();
  std::lock_guard lock(live.mu);
  Changed(live, false);
  return absl::OkStatus();
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

// Runs a job's pending trials on `parallel_trials` threads, here or on the
// replicas, and fits each candidate's model once its trials have ended.
// The first bad-input failure, or a cancellation, stops it.
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
    std::vector<std::thread> pool;
    for (int w = 1; w < workers; ++w) pool.emplace_back([this] { Work(); });
    Work();
    for (auto& t : pool) t.join();
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

  void Work() {
    while (!Stopped()) {
      int index;
      {
        std::lock_guard lock(mu_);
        if (next_ == queue_.size()) return;
        index = queue_[next_++];
      }
      RunOne(index);
    }
  }

  void RunOne(int index) {
    const v1::Trial trial = MarkRunning(index);
    const auto started = Clock::now();
    absl::StatusOr<Outcome> outcome = trainer_.options_.replicas != nullptr
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
    if (resp->has_model()) {
      const v1::ModelArtifact& model = resp->model();
      o.learned = model.learned();
      o.train_metrics = {model.train_metrics().begin(),
                         model.train_metrics().end()};
      o.eval_metrics = {model.eval_metrics().begin(),
                        model.eval_metrics().end()};
      o.fit_seconds = model.timings().fit_seconds();
    }
    return o;
  }

  absl::StatusOr<Outcome> Here(int index, const v1::Trial& trial) {
    return trainer_.RunTrialHere(
        data_, live_.job, trial, false, threads_, [this] { return Stopped(); },
        [this, index](const v1::Trial& t) {
          std::lock_guard lock(live_.mu);
          auto* dst = live_.job.mutable_trials(index);
          dst->set_iteration(t.iteration());
          dst->set_iterations(t.iterations());
          dst->set_loss(t.loss());
          dst->set_resumed_from(t.resumed_from());
          trainer_.Changed(live_, false);
        });
  }

  // The trial's model, kept for its candidate's final fit.
  absl::Status Keep(const v1::Trial& trial, const Outcome& outcome) {
    v1::ModelArtifact partial;
    *partial.mutable_learned() = *outcome.learned;
    partial.mutable_train_metrics()->Assign(outcome.train_metrics.begin(),
                                            outcome.train_metrics.end());
    partial.mutable_eval_metrics()->Assign(outcome.eval_metrics.begin(),
                                           outcome.eval_metrics.end());
    partial.mutable_timings()->set_fit_seconds(outcome.fit_seconds);
    return trainer_.store_->Put(kTrialModels, trial.id(),
                                partial.SerializeAsString());
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
  size_t next_ = 0;       // GUARDED_BY(mu_)
  absl::Status failure_;  // GUARDED_BY(mu_): stops the trials.
};

absl::StatusOr<v1::TrainingResult> Trainer::BestOf(
    const v1::StartTrainingRequest& request, const v1::TrainingJob& job,
    const Data& data) {
  v1::TrainingResult result;
  result.set_job(job.id());
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
  auto data = LoadData(live.job);
  if (!data.ok()) return fail(data.status());
  if (auto s = PlanTrials(live, **data, request, resumed); !s.ok())
    return fail(s);
  const int threads = request.threads_per_candidate() > 0
                          ? request.threads_per_candidate()
                          : options_.threads_per_candidate;
  absl::Status trials =
      TrialScheduler(*this, live, **data, threads, progress).Run();
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
