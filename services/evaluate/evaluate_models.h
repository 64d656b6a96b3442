// The evaluation domain's core (no gRPC, no storage): the candidates and the
// baseline, already predicted on the same rows, are evaluated
// (common/eval), sliced, each candidate judged against the baseline by the
// request's gate, and the best candidate by the comparison metric recorded
// (the first in request order on ties). The evaluation's `blessed` is the
// best candidate's verdict.
#ifndef MLPIPE_SERVICES_EVALUATE_EVALUATE_MODELS_H_
#define MLPIPE_SERVICES_EVALUATE_EVALUATE_MODELS_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/evaluate_request.h"
#include "common/eval/metrics.h"
#include "common/eval/slices.h"
#include "mlpipe/v1/evaluate_service.pb.h"
#include "mlpipe/v1/evaluation.pb.h"

namespace mlpipe::evaluate {

// One model's predictions on the evaluation rows.
struct Scored {
  std::string model;  // name:version
  std::string algorithm;
  std::string candidate;
  eval::Predictions predictions;
};

// INVALID_ARGUMENT when the models disagree on the task or the rows, or the
// metric or gate does not fit the task.
// `threads` compute the bootstrap intervals; `on_bootstrap` (optional) hears
// how many of all the models' resamples are done, about 50 times in all.
absl::StatusOr<v1::Evaluation> EvaluateModels(
    const v1::EvaluateRequest& request, const std::vector<Scored>& candidates,
    const Scored* baseline, const std::vector<eval::SliceColumn>& columns,
    int threads = 1,
    const std::function<void(int64_t done, int64_t total)>& on_bootstrap =
        nullptr);

}  // namespace mlpipe::evaluate

#endif  // MLPIPE_SERVICES_EVALUATE_EVALUATE_MODELS_H_
