// Step type backed by the evaluation service:
//   evaluate {models: [ID, ...] (default: the upstream train step's models),
//             metric, slices: [COL | [COL, COL], ...], part, split,
//             gate: {min: {METRIC: X}, max: {METRIC: X}, baseline: ALIAS
//                    (default production), min_improvement, require_baseline},
//             threshold, criterion, bootstrap, min_slice_rows}
//   Evaluates the candidates against the model the baseline alias points to
//   (the orchestrator's registry; none yet: the bounds alone). Results:
//   evaluation, best_model, blessed (for `when: evaluate.blessed`),
//   baseline, <metric> (the best candidate's), improvement; the evaluation
//   as an artifact.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_EVAL_STEPS_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_EVAL_STEPS_H_

#include "services/orchestrator/executor.h"
#include "services/orchestrator/ingest_steps.h"

namespace mlpipe::orchestrator {

// `evaluate` reaches the evaluation service; `registry` the orchestrator's
// own service (aliases).
void RegisterEvalExecutors(ExecutorRegistry* registry, ChannelProvider evaluate,
                           ChannelProvider aliases);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_EVAL_STEPS_H_
