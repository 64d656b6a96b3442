// A training job's rows: the split's train (and eval) part of the feature
// set, with the task, label and classes resolved from the request.
#include <cmath>
#include <string>

#include "clients/train_request.h"
#include "common/eval/score.h"
#include "common/table/typing.h"
#include "common/util/hash.h"
#include "common/util/strings.h"
#include "services/train/trainer_internal.h"

namespace mlpipe::train {
namespace {

v1::Task ParseTask(const std::string& t) {
  if (t == "binary") return v1::BINARY;
  if (t == "multiclass") return v1::MULTICLASS;
  if (t == "regression") return v1::REGRESSION;
  if (t == "clustering") return v1::CLUSTERING;
  return v1::TASK_UNSPECIFIED;
}

// The task the request names, else the one the label suggests.
absl::StatusOr<v1::Task> ResolveTask(const v1::StartTrainingRequest& r,
                                     const v1::Split& split) {
  if (v1::Task task = ParseTask(r.task()); task != v1::TASK_UNSPECIFIED)
    return task;
  bool all_kmeans = true;
  for (const auto& c : r.candidates()) all_kmeans &= c.algorithm() == "kmeans";
  if (all_kmeans) return v1::CLUSTERING;
  if (split.label_kind() == "continuous") return v1::REGRESSION;
  if (split.label_kind() == "classes") {
    std::set<std::string> seen;
    for (const auto& p : split.parts()) {
      for (const auto& c : p.classes()) seen.insert(c.value());
    }
    return seen.size() > 2 ? v1::MULTICLASS : v1::BINARY;
  }
  return absl::FailedPreconditionError(
      StrCat("label: split ", split.id(),
             " has no label; make the split with one "
             "(or set task: clustering)"));
}

// The split's classes, in its order (numbers numerically, text by name).
std::vector<std::string> SplitClasses(const v1::Split& split) {
  std::vector<std::string> classes;
  for (const auto& p : split.parts()) {
    for (const auto& c : p.classes()) {
      if (std::find(classes.begin(), classes.end(), c.value()) == classes.end())
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
  return classes;
}

// A classification's classes, the positive one last.
absl::StatusOr<std::vector<std::string>> ResolveClasses(
    const v1::StartTrainingRequest& r, const v1::Split& split,
    const Resolved& out) {
  std::vector<std::string> classes = SplitClasses(split);
  if (classes.size() < 2) {
    return absl::FailedPreconditionError(
        StrCat("label ", out.label, ": split ", split.id(), " has ",
               classes.size(), " class(es); classification needs 2 or more"));
  }
  if (out.task == v1::BINARY && classes.size() != 2) {
    return absl::InvalidArgumentError(StrCat("task: binary, but label ",
                                             out.label, " has ", classes.size(),
                                             " classes"));
  }
  if (r.positive_class().empty()) return classes;
  if (out.task != v1::BINARY)
    return absl::InvalidArgumentError("positive_class: only for binary tasks");
  auto it = std::find(classes.begin(), classes.end(), r.positive_class());
  if (it == classes.end()) {
    return absl::InvalidArgumentError(
        StrCat("positive_class: \"", r.positive_class(),
               "\" is not a class of ", out.label));
  }
  classes.erase(it);
  classes.push_back(r.positive_class());
  return classes;
}

// The search metric suits the task, and every candidate's algorithm can do
// it.
absl::Status CheckFitsTask(const v1::StartTrainingRequest& r,
                           const Resolved& out) {
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
  return absl::OkStatus();
}

absl::StatusOr<Resolved> Resolve(const v1::StartTrainingRequest& r,
                                 const v1::Split& split,
                                 const v1::FeatureSet& fs) {
  Resolved out;
  auto task = ResolveTask(r, split);
  if (!task.ok()) return task.status();
  out.task = *task;
  const std::string split_label = Or(split.spec().label(), fs.label());
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
    auto classes = ResolveClasses(r, split, out);
    if (!classes.ok()) return classes.status();
    out.classes = *std::move(classes);
  }
  out.metric = Or(r.search().metric(), eval::HeadlineMetric(out.task));
  if (auto s = CheckFitsTask(r, out); !s.ok()) return s;
  return out;
}

}  // namespace

namespace internal {

// The parts a job reads: the train part, and the eval part when it has one.
struct Parts {
  std::string train, eval;
  int train_index = -1, eval_index = -1;  // In split.parts.
};

}  // namespace internal

namespace {

using internal::Data;
using internal::LoadOptions;
using internal::Parts;

// How many settings the request's trials try (2 for a malformed search:
// the job reports it).
size_t Trials(const v1::StartTrainingRequest& r) {
  size_t n = 0;
  for (int i = 0; i < r.candidates_size(); ++i) {
    auto settings = ExpandTrials(r.candidates(i), r.search(), i);
    n += settings.ok() ? settings->size() : 2;
  }
  return n;
}

// The request's parts, checked against the split (and its folds). Without
// an eval part a single trial (nothing to choose) scores on the train part.
absl::StatusOr<Parts> ChooseParts(const v1::StartTrainingRequest& r,
                                  const v1::Split& split) {
  Parts out;
  out.train = Or(r.train_part(), "train");
  out.eval = r.eval_part();
  for (int i = 0; i < split.parts_size(); ++i) {
    if (split.parts(i).name() == out.train) out.train_index = i;
    if (split.parts(i).name() == (out.eval.empty() ? "eval" : out.eval))
      out.eval_index = i;
  }
  if (out.eval.empty() && out.eval_index >= 0) out.eval = "eval";
  if (out.train_index < 0) {
    return absl::InvalidArgumentError(StrCat(
        "train_part: split ", r.split(), " has no part \"", out.train, "\""));
  }
  if (!out.eval.empty() && out.eval_index < 0) {
    return absl::InvalidArgumentError(StrCat(
        "eval_part: split ", r.split(), " has no part \"", out.eval, "\""));
  }
  const int folds = r.search().folds();
  if (folds > 0) {
    if (split.spec().folds() != folds ||
        Or(split.spec().fold_part(), split.parts(0).name()) != out.train) {
      return absl::FailedPreconditionError(
          StrCat("search.folds: ", folds,
                 "-fold cross-validation needs a split with folds: ", folds,
                 " on part ", out.train, "; split ", r.split(), " has ",
                 split.spec().folds(), " folds"));
    }
  } else if (out.eval.empty() && Trials(r) > 1) {
    return absl::FailedPreconditionError(
        StrCat("eval_part: split ", r.split(),
               " has no eval part to score the ", Trials(r),
               " trials on; add one, use search.folds, or train one "
               "candidate with fixed parameters"));
  }
  return out;
}

}  // namespace

namespace internal {

namespace {

// The job's split, feature set and resolved task into `data`.
absl::Status ReadLineage(TrainSources& sources,
                         const v1::StartTrainingRequest& r, Data& data) {
  auto split = sources.GetSplit(r.split());
  if (!split.ok()) return split.status();
  data.split = std::move(*split);
  const std::string fs_id = Or(r.feature_set(), data.split.feature_set());
  if (fs_id.empty()) {
    return absl::InvalidArgumentError(
        StrCat("feature_set: required: split ", r.split(), " is of dataset ",
               data.split.dataset(), " version ", data.split.version(),
               "; name a feature set of that version"));
  }
  auto fs = sources.GetFeatureSet(fs_id);
  if (!fs.ok()) return fs.status();
  data.fs = std::move(*fs);
  if (data.fs.dataset() != data.split.dataset() ||
      data.fs.version() != data.split.version()) {
    return absl::FailedPreconditionError(
        StrCat("feature_set: ", fs_id, " is of ", data.fs.dataset(),
               " version ", data.fs.version(), ", split ", r.split(), " of ",
               data.split.dataset(), " version ", data.split.version()));
  }
  if (data.fs.num_rows() != data.split.num_rows()) {
    return absl::FailedPreconditionError(
        StrCat("feature_set: ", fs_id, " has ", data.fs.num_rows(),
               " rows, split ", r.split(), " ", data.split.num_rows()));
  }
  auto resolved = Resolve(r, data.split, data.fs);
  if (!resolved.ok()) return resolved.status();
  data.resolved = std::move(*resolved);
  return absl::OkStatus();
}

// Rows of other shards leave every part.
void KeepShard(const LoadOptions& o, std::vector<uint8_t>& assignment) {
  if (o.shards <= 1) return;
  for (size_t row = 0; row < assignment.size(); ++row) {
    if (ShardOf(row, o.shards) != o.shard) assignment[row] = 255;
  }
}

// How many of a part's `rows` a shard expects, with a margin: a matrix
// reserved too small grows by copying, with both copies resident.
size_t ShardRows(int64_t rows, const LoadOptions& o) {
  if (o.shards <= 1) return static_cast<size_t>(rows);
  const double mean = static_cast<double>(rows) / o.shards;
  return static_cast<size_t>(mean + 6 * std::sqrt(mean) + 64);  // 6 sigma.
}

// The rows of `parts` (of the shard) into `data`.
absl::Status ReadRows(TrainSources& sources, const v1::StartTrainingRequest& r,
                      const Parts& parts, const LoadOptions& o, Data& data) {
  // One pass over the feature set routes every row to its part by the
  // split's assignments (ReadSplit would read and filter the whole feature
  // set once per part).
  const int folds = r.search().folds();
  auto chunks = sources.ReadAssignments(r.split());
  if (!chunks.ok()) return chunks.status();
  std::vector<uint8_t> assignment, row_folds;
  if (auto s =
          ml::FlattenAssignments(*chunks, data.split.num_rows(), &assignment,
                                 folds > 0 ? &row_folds : nullptr);
      !s.ok()) {
    return absl::DataLossError(StrCat(r.split(), ": ", s.message()));
  }
  KeepShard(o, assignment);
  ml::PartRowsSpec spec;
  spec.assignment = &assignment;
  spec.folds = folds > 0 ? &row_folds : nullptr;
  spec.parts = {parts.train_index};
  spec.reserve = {ShardRows(data.split.parts(parts.train_index).rows(), o)};
  if (parts.eval_index >= 0) {
    spec.parts.push_back(parts.eval_index);
    spec.reserve.push_back(
        ShardRows(data.split.parts(parts.eval_index).rows(), o));
  }
  spec.features.assign(data.fs.features().begin(), data.fs.features().end());
  spec.label = data.resolved.label;
  std::vector<std::string> columns = spec.features;
  if (!spec.label.empty()) columns.push_back(spec.label);
  v1::ReadFeaturesRequest req;
  req.set_feature_set(data.fs.id());
  *req.mutable_columns() = {columns.begin(), columns.end()};
  req.set_max_rows_per_frame(o.frame_rows);
  auto reader = sources.ReadFeatures(req);
  if (!reader.ok()) return reader.status();
  auto read = ml::ReadParts(
      **reader, spec,
      ml::LabelEncoder(data.resolved.task, data.resolved.classes));
  if (!read.ok()) return read.status();
  data.train = std::move((*read)[0].data);
  data.folds = std::move((*read)[0].folds);
  if (parts.eval_index >= 0) data.eval = std::move((*read)[1].data);
  return absl::OkStatus();
}

}  // namespace

int ShardOf(size_t row, int shards) {
  return static_cast<int>(SplitMix64(row) % static_cast<uint64_t>(shards));
}

absl::StatusOr<std::shared_ptr<Data>> LoadData(TrainSources& sources,
                                               const v1::TrainingJob& job,
                                               const LoadOptions& o) {
  const auto started = Clock::now();
  auto data = std::make_shared<Data>();
  data->job = job.id();
  const auto& r = job.request();
  if (auto s = ReadLineage(sources, r, *data); !s.ok()) return s;
  auto parts = ChooseParts(r, data->split);
  if (!parts.ok()) return parts.status();
  if (!o.rows) return data;
  if (auto s = ReadRows(sources, r, *parts, o, *data); !s.ok()) return s;
  if (data->train.rows() == 0) {
    return absl::FailedPreconditionError(StrCat(
        "train_part: part ", parts->train, " of split ", r.split(),
        " has no labelled rows",
        o.shards > 1 ? StrCat(" in shard ", o.shard, " of ", o.shards) : ""));
  }
  data->read_seconds = Seconds(started);
  return data;
}

}  // namespace internal
}  // namespace mlpipe::train
