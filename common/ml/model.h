// One interface for every model, so training, evaluation and scoring treat
// them alike: Fit() makes a Model from data and hyper-parameters,
// Model::Predict scores rows, Model::Parameters() serializes the learned
// parameters into the artifact, LoadModel() reads them back.
//
// Algorithms (hyper-parameters, defaults):
//   linear_regression   ridge: alpha 1.0 (0: ordinary least squares),
//                       solver closed_form | lbfgs, fit_intercept true,
//                       max_iter 1000, tol 1e-8 (lbfgs).
//   logistic_regression binary. C 1.0 (as scikit-learn: the loss summed
//                       over rows plus ||w||^2 / 2C, or ||w||_1 / C), or
//                       l2: lambda / l1: lambda (C = 1 / lambda); penalty
//                       l2 | l1 | none; max_iter 1000; tol 1e-6 (largest
//                       gradient entry of the mean loss); class_weight.
//   softmax_regression  multiclass; as logistic_regression (l2 or none).
//   kmeans              clustering. k 8, n_init 10, max_iter 300, tol 1e-4,
//                       init k-means++ (greedy, as scikit-learn).
//   gbdt                XGBoost boosted trees: rounds 100, eta 0.3,
//                       max_depth 6, min_child_weight 1, subsample 1,
//                       colsample_bytree 1, colsample_bynode 1, lambda 1,
//                       alpha 0, gamma 0, max_bin 256, tree_method hist,
//                       early_stopping_rounds 0 (on the eval rows),
//                       scale_pos_weight 1, class_weight.
//   random_forest       XGBoost random forest as scikit-learn's: trees
//                       100, max_depth 0 (max_leaves 2048), subsample
//                       0.632, colsample_bynode sqrt(p)/p (classification)
//                       or 1 (regression), min_child_weight 1, lambda 1e-5,
//                       max_bin 256, class_weight; classes as shares
//                       (squared error on 0/1 per class).
// class_weight: "none" (default) or "balanced" (scikit-learn's
// n / (classes * count)); folded into the row weights.
// Every algorithm also takes seed (default 0).
#ifndef MLPIPE_COMMON_ML_MODEL_H_
#define MLPIPE_COMMON_ML_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ml/collective.h"
#include "common/ml/data.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/task.pb.h"

namespace mlpipe::v1 {
class LearnedParameters;  // mlpipe/v1/model.pb.h
}  // namespace mlpipe::v1

namespace mlpipe::ml {

// A fitted model. Thread-safe: Predict may run on many threads at once.
class Model {
 public:
  virtual ~Model() = default;
  virtual v1::Task task() const = 0;
  virtual size_t num_features() const = 0;
  // Values per row that Predict writes: BINARY 1 (P(positive)), MULTICLASS
  // the number of classes (probabilities), REGRESSION 1 (the value),
  // CLUSTERING 1 (the nearest centroid's index).
  virtual int OutputWidth() const = 0;
  // Predictions for every row of `x`, x.rows * OutputWidth() values.
  // INVALID_ARGUMENT when x.cols != num_features().
  // Thread-safe; one thread each (callers split rows across threads).
  virtual absl::Status Predict(MatrixView x,
                               std::vector<double>* out) const = 0;
  virtual v1::LearnedParameters Parameters() const = 0;
};

// Where an iterative fit is.
struct FitProgress {
  int64_t iteration = 0;   // Rounds / iterations done.
  int64_t iterations = 0;  // Planned (the maximum).
  double loss = 0;         // Training objective (or eval metric for trees).
};

// Opaque solver state: resuming from it continues the fit where it was.
struct Checkpoint {
  int64_t iteration = 0;
  std::string state;
};

struct FitOptions {
  v1::Task task = v1::TASK_UNSPECIFIED;
  int threads = 1;
  // Early stopping and progress for boosted trees; may be null.
  const TrainingData* eval = nullptr;
  // Calls on_checkpoint every this many iterations / rounds (0: never).
  int checkpoint_every = 0;
  // Continue from this state (from on_checkpoint of the same fit); null:
  // from the start.
  const Checkpoint* resume = nullptr;
  // Called after iterations (at most about every 10); a non-OK status (say
  // CANCELLED) stops the fit, which returns it.
  std::function<absl::Status(const FitProgress&)> on_progress;
  // Persist the checkpoint; a non-OK status stops the fit.
  std::function<absl::Status(const Checkpoint&)> on_checkpoint;
  // When set, a fit that has its predictions on the training rows at hand
  // (boosted trees keep them cached) writes them here, as Model::Predict
  // would; left empty otherwise.
  std::vector<double>* train_predictions = nullptr;
  // Read and check the parameters, then return (OK with no model) before
  // looking at the data: CheckParams.
  bool params_only = false;
  // gbdt and random_forest: fit one model together with the other
  // processes of this collective, `train` (and `eval`) being this process's
  // shard of the rows (collective.h). Null: alone. REQUIRES: no other tree
  // fit in this process meanwhile (XGBoost's communicator is the process's:
  // a shard fits in a process of its own).
  const Collective* collective = nullptr;
};

// The algorithm names above.
const std::vector<std::string>& Algorithms();
// Tasks the algorithm can do.
bool Supports(const std::string& algorithm, v1::Task task);
// True when the algorithm takes missing (NaN) features (the tree models);
// the others need every feature present.
bool TakesMissingValues(const std::string& algorithm);

// Fits `algorithm` with `params` on `train`. INVALID_ARGUMENT naming the
// parameter (prefixed by `where`, e.g. "candidates[0].params") or the data
// problem (a missing value for a linear model, a single class, ...).
absl::StatusOr<std::unique_ptr<Model>> Fit(
    const std::string& algorithm, const google::protobuf::Struct& params,
    const std::string& where, const TrainingData& train,
    const FitOptions& options);

// Checks `params` of `algorithm` (names, types, ranges) without data, as Fit
// would before fitting: INVALID_ARGUMENT naming the parameter (prefixed by
// `where`). `task` UNSPECIFIED accepts what any task of the algorithm takes.
absl::Status CheckParams(const std::string& algorithm,
                         const google::protobuf::Struct& params,
                         const std::string& where, v1::Task task);

// A model from stored parameters. DATA_LOSS when they are inconsistent
// (sizes that do not match, an XGBoost model that does not load).
absl::StatusOr<std::unique_ptr<Model>> LoadModel(
    v1::Task task, size_t num_features, int num_classes,
    const v1::LearnedParameters& learned);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_MODEL_H_
