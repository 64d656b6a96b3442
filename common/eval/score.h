// A model's scalar metrics on labelled rows (common/eval/metrics.h's
// definitions): what training uses to compare trials and what an artifact
// records for its train and eval parts. Row weights are honoured.
#ifndef MLPIPE_COMMON_EVAL_SCORE_H_
#define MLPIPE_COMMON_EVAL_SCORE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/eval/metrics.h"
#include "common/ml/data.h"
#include "common/ml/model.h"

namespace mlpipe::eval {

// Predictions of `model` for `data` (taken over from `predictions` when
// given: Model::Predict's output for `data`, e.g. a fit's cached training
// predictions), row blocks predicted in parallel.
absl::StatusOr<Predictions> Predict(
    const ml::Model& model, const ml::TrainingData& data, int threads,
    std::optional<std::vector<double>> predictions = std::nullopt);

// Every scalar metric of the model's task on `data`. INVALID_ARGUMENT when
// the data does not fit the model.
absl::StatusOr<std::vector<v1::MetricValue>> Score(
    const ml::Model& model, const ml::TrainingData& data, int threads,
    std::optional<std::vector<double>> predictions = std::nullopt);

}  // namespace mlpipe::eval

#endif  // MLPIPE_COMMON_EVAL_SCORE_H_
