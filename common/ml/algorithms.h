// The algorithms behind ml::Fit (model.h). Internal to common/ml: callers
// use Fit and LoadModel. Each FitX reads its hyper-parameters from `params`
// (so unknown names are refused after), validates the data, then fits with
// `weights` (one per row, class weights folded in).
#ifndef MLPIPE_COMMON_ML_ALGORITHMS_H_
#define MLPIPE_COMMON_ML_ALGORITHMS_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ml/model.h"
#include "common/ml/params.h"
#include "mlpipe/v1/model.pb.h"

namespace mlpipe::ml::internal {

using FitFn = absl::StatusOr<std::unique_ptr<Model>> (*)(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options);

absl::StatusOr<std::unique_ptr<Model>> FitLinearRegression(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options);
absl::StatusOr<std::unique_ptr<Model>> FitLogisticRegression(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options);
absl::StatusOr<std::unique_ptr<Model>> FitSoftmaxRegression(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options);
absl::StatusOr<std::unique_ptr<Model>> FitKMeans(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options);
absl::StatusOr<std::unique_ptr<Model>> FitGbdt(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options);
absl::StatusOr<std::unique_ptr<Model>> FitRandomForest(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options);

absl::StatusOr<std::unique_ptr<Model>> LoadLinear(
    v1::Task task, size_t num_features, int num_classes,
    const v1::LinearParameters& p);
absl::StatusOr<std::unique_ptr<Model>> LoadKMeans(
    size_t num_features, const v1::ClusterParameters& p);
absl::StatusOr<std::unique_ptr<Model>> LoadTrees(
    v1::Task task, size_t num_features, int num_classes,
    const v1::TreeEnsembleParameters& p);
// Whether a tree model predicts small batches with its own tree walk
// (bit-identical to XGBoost's) instead of calling XGBoost.
bool UsesFlatForest(const Model& model);

// INVALID_ARGUMENT naming the first feature with a missing (NaN) or
// infinite value, for algorithms that cannot take them.
absl::Status RequireFinite(const TrainingData& data);

}  // namespace mlpipe::ml::internal

#endif  // MLPIPE_COMMON_ML_ALGORITHMS_H_
