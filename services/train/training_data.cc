// A training job's rows: the split's train (and eval) part of the feature
// set, with the task, label and classes resolved from the request.
#include <string>

#include "common/eval/score.h"
#include "common/table/typing.h"
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

}  // namespace

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

}  // namespace mlpipe::train
