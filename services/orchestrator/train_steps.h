// Step type backed by the train service:
//   train {candidates: [{name, algorithm, params}], search: {type, trials,
//          folds, metric, seed}, split: STEP, features: STEP, model, label,
//          task, positive_class (default spec.positive_class), train_part,
//          eval_part, threads_per_candidate, checkpoint_every}
//   Trains every candidate on the split of `split: STEP` (or the one upstream
//   step that made a split) with the feature set of `features: STEP` (or the
//   one upstream step that made a feature set; else the split's own). The
//   model name defaults to the dataset. Results: best_model, models (comma
//   separated), job, and per candidate "<name>_model" and "<name>_<metric>";
//   one artifact per model.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_TRAIN_STEPS_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_TRAIN_STEPS_H_

#include "services/orchestrator/executor.h"
#include "services/orchestrator/ingest_steps.h"

namespace mlpipe::orchestrator {

void RegisterTrainExecutors(ExecutorRegistry* registry, ChannelProvider train);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_TRAIN_STEPS_H_
