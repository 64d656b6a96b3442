// Flags of the train service (mlpipe-train and mlpipe-standalone).
#ifndef MLPIPE_SERVICES_TRAIN_TRAIN_FLAGS_H_
#define MLPIPE_SERVICES_TRAIN_TRAIN_FLAGS_H_

#include "services/train/train_module.h"

namespace mlpipe::train {

// --train_replicas, --train_parallel_trials, --train_threads_per_candidate,
// --train_checkpoint_every, --train_parallel_jobs.
TrainModuleOptions TrainOptionsFromFlags();

}  // namespace mlpipe::train

#endif  // MLPIPE_SERVICES_TRAIN_TRAIN_FLAGS_H_
