// Scores of a model on labelled rows: what training uses to compare trials
// and what the artifact records for the train and eval parts. Definitions
// follow scikit-learn (roc_auc_score, log_loss with eps 1e-15,
// accuracy_score, mean_squared_error, r2_score, KMeans.inertia_); row
// weights are honoured.
#ifndef MLPIPE_COMMON_ML_METRICS_H_
#define MLPIPE_COMMON_ML_METRICS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ml/data.h"
#include "common/ml/model.h"

namespace mlpipe::ml {

// Metric names per task: binary auc, logloss, accuracy; multiclass logloss,
// accuracy; regression rmse, mae, r2; clustering inertia.
const std::vector<std::string>& MetricsFor(v1::Task task);
std::string DefaultMetric(v1::Task task);
bool HigherIsBetter(const std::string& metric);

// ROC AUC of scores for binary labels (1 positive); ties count one half.
// NaN when a class is absent.
double RocAuc(const std::vector<double>& scores, const std::vector<double>& y,
              const std::vector<double>& weights);

// Every metric of the model's task on `data` (predicted by `model`, or
// taken from `predictions` when given: Model::Predict's output for `data`).
// INVALID_ARGUMENT when the data does not fit the model.
absl::StatusOr<std::vector<v1::MetricValue>> Score(
    const Model& model, const TrainingData& data, int threads,
    const std::vector<double>* predictions = nullptr);

// The value of `name` in `metrics`; NaN when absent.
double Find(const std::vector<v1::MetricValue>& metrics,
            const std::string& name);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_METRICS_H_
