// The canary rollout plan as users write it, in a pipeline's deploy step
// (`canary:`) or a file for `mlpipe deploy --canary`:
//   {steps: [5, 25, 50, 100],
//    analysis: {metric: auc, max_regression: 0.01, min_actuals: 500,
//               max_latency_p99_ratio: 1.2, max_error_rate_delta: 0.001,
//               interval: 10m, confidence: 0.95}}
// Every key is optional (docs/canary.md gives the defaults); unknown keys
// are errors.
#ifndef MLPIPE_SERVICES_MONITOR_ROLLOUT_PLAN_H_
#define MLPIPE_SERVICES_MONITOR_ROLLOUT_PLAN_H_

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/monitor.pb.h"

namespace mlpipe::monitor {

// The plan `canary` describes, checked as the monitor checks it.
// INVALID_ARGUMENT "canary.<key>: <reason>" (e.g. "canary.analysis.intervl:
// unknown key (known: ...)").
absl::StatusOr<v1::RolloutPlan> RolloutPlanFromValue(
    const google::protobuf::Value& canary);

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_ROLLOUT_PLAN_H_
