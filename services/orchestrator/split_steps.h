// Step type backed by the split service:
//   split {strategy, ratios: {train: 0.7, eval: 0.15, test: 0.15}, seed,
//          label (default spec.label), column, group_column, cutoffs: [RFC
//          3339 times], folds, fold_part, features: STEP, dataset,
//          max_label_shift, max_mean_shift, min_part_rows, max_ratio_error,
//          fail_on: [warning codes]}
//   Splits the feature set of an upstream step (`features: STEP`, or the one
//   upstream step that produced a feature set), else the dataset version an
//   upstream step produced (a split of a dataset version can be used by a
//   later prepare step's `fit_on: {split: STEP}`). Warnings are results; a
//   warning whose code is in `fail_on` fails the step.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_SPLIT_STEPS_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_SPLIT_STEPS_H_

#include "services/orchestrator/executor.h"
#include "services/orchestrator/ingest_steps.h"

namespace mlpipe::orchestrator {

void RegisterSplitExecutors(ExecutorRegistry* registry, ChannelProvider split);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_SPLIT_STEPS_H_
