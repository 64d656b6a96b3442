#include "common/ml/model.h"

#include <algorithm>
#include <map>

#include "common/ml/algorithms.h"
#include "common/util/strings.h"

namespace mlpipe::ml {
namespace {

struct Algorithm {
  internal::FitFn fit;
  std::vector<v1::Task> tasks;
  bool takes_missing = false;  // Fits and predicts with NaN features.
};

const std::map<std::string, Algorithm>& Registry() {
  static const auto* registry = new std::map<std::string, Algorithm>{
      {"linear_regression", {internal::FitLinearRegression, {v1::REGRESSION}}},
      {"logistic_regression", {internal::FitLogisticRegression, {v1::BINARY}}},
      {"softmax_regression",
       {internal::FitSoftmaxRegression, {v1::MULTICLASS, v1::BINARY}}},
      {"kmeans", {internal::FitKMeans, {v1::CLUSTERING}}},
      {"gbdt",
       {internal::FitGbdt,
        {v1::BINARY, v1::MULTICLASS, v1::REGRESSION},
        /*takes_missing=*/true}},
      {"random_forest",
       {internal::FitRandomForest,
        {v1::BINARY, v1::MULTICLASS, v1::REGRESSION},
        /*takes_missing=*/true}},
  };
  return *registry;
}

}  // namespace

const std::vector<std::string>& Algorithms() {
  static const auto* names = [] {
    auto* v = new std::vector<std::string>;
    for (const auto& [name, a] : Registry()) v->push_back(name);
    return v;
  }();
  return *names;
}

bool TakesMissingValues(const std::string& algorithm) {
  auto it = Registry().find(algorithm);
  return it != Registry().end() && it->second.takes_missing;
}

bool Supports(const std::string& algorithm, v1::Task task) {
  auto it = Registry().find(algorithm);
  if (it == Registry().end()) return false;
  for (v1::Task t : it->second.tasks) {
    if (t == task) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<Model>> Fit(
    const std::string& algorithm, const google::protobuf::Struct& params,
    const std::string& where, const TrainingData& train,
    const FitOptions& options) {
  auto it = Registry().find(algorithm);
  if (it == Registry().end()) {
    std::string list;
    for (const auto& n : Algorithms())
      StrAppend(&list, list.empty() ? "" : ", ", n);
    return absl::InvalidArgumentError(
        StrCat("algorithm: unknown \"", algorithm, "\" (known: ", list, ")"));
  }
  if (!Supports(algorithm, options.task)) {
    return absl::InvalidArgumentError(StrCat("algorithm: ", algorithm,
                                             " cannot do the task ",
                                             v1::Task_Name(options.task)));
  }
  if (train.rows() == 0) {
    return absl::InvalidArgumentError("train: no rows to fit on");
  }
  if (options.task == v1::BINARY || options.task == v1::MULTICLASS) {
    if (train.y.size() != train.rows()) {
      return absl::InvalidArgumentError("label: required for classification");
    }
    for (double y : train.y) {
      if (!(y >= 0 && y < train.num_classes && y == static_cast<int>(y))) {
        return absl::InvalidArgumentError(StrCat(
            "label: class index ", y, " outside 0..", train.num_classes - 1));
      }
    }
  }
  Params p(params, where);
  // Class weights fold into the row weights, the same way for every
  // algorithm (the tree algorithms and the linear ones alike).
  std::string class_weight = "none";
  if (options.task == v1::BINARY || options.task == v1::MULTICLASS) {
    class_weight = p.Choice("class_weight", "none", {"none", "balanced"});
  }
  std::vector<double> weights = train.weights;
  if (weights.empty()) weights.assign(train.rows(), 1.0);
  if (class_weight == "balanced") {
    // scikit-learn: n / (classes * count), counted with the row weights.
    std::vector<double> count(std::max(train.num_classes, 1), 0.0);
    double total = 0;
    for (size_t i = 0; i < train.rows(); ++i) {
      count[static_cast<int>(train.y[i])] += weights[i];
      total += weights[i];
    }
    int present = 0;
    for (double c : count) present += c > 0;
    for (size_t i = 0; i < train.rows(); ++i) {
      weights[i] *= total / (present * count[static_cast<int>(train.y[i])]);
    }
  }
  return it->second.fit(p, train, weights, options);
}

absl::Status CheckParams(const std::string& algorithm,
                         const google::protobuf::Struct& params,
                         const std::string& where, v1::Task task) {
  auto it = Registry().find(algorithm);
  if (it == Registry().end())
    return absl::InvalidArgumentError(
        StrCat("algorithm: unknown \"", algorithm, "\""));
  Params p(params, where);
  if (task != v1::REGRESSION && task != v1::CLUSTERING)
    p.Choice("class_weight", "none", {"none", "balanced"});
  TrainingData none;
  FitOptions options;
  options.task = task;
  options.params_only = true;
  return it->second.fit(p, none, {}, options).status();
}

absl::StatusOr<std::unique_ptr<Model>> LoadModel(
    v1::Task task, size_t num_features, int num_classes,
    const v1::LearnedParameters& learned) {
  switch (learned.kind_case()) {
    case v1::LearnedParameters::kLinear:
      return internal::LoadLinear(task, num_features, num_classes,
                                  learned.linear());
    case v1::LearnedParameters::kClusters:
      return internal::LoadKMeans(num_features, learned.clusters());
    case v1::LearnedParameters::kTrees:
      return internal::LoadTrees(task, num_features, num_classes,
                                 learned.trees());
    default:
      return absl::DataLossError("learned parameters: none stored");
  }
}

}  // namespace mlpipe::ml
