// Checks of an Evaluate request that need no data (the evaluation service
// before it starts an operation; the orchestrator at submit), and the
// evaluation options it asks for.
#ifndef MLPIPE_CLIENTS_EVALUATE_REQUEST_H_
#define MLPIPE_CLIENTS_EVALUATE_REQUEST_H_

#include "absl/status/status.h"
#include "common/eval/metrics.h"
#include "mlpipe/v1/evaluate_service.pb.h"

namespace mlpipe::evaluate {

// What can be checked before reading anything: INVALID_ARGUMENT naming the
// field (models, slices, threshold, threshold_criterion, ...).
absl::Status CheckRequest(const v1::EvaluateRequest& request);

// The request's evaluation options, defaults filled in.
eval::Options OptionsFrom(const v1::EvaluateRequest& request);

}  // namespace mlpipe::evaluate

#endif  // MLPIPE_CLIENTS_EVALUATE_REQUEST_H_
