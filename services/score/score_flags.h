// Flags of the scoring service (mlpipe-score and mlpipe-standalone).
#ifndef MLPIPE_SERVICES_SCORE_SCORE_FLAGS_H_
#define MLPIPE_SERVICES_SCORE_SCORE_FLAGS_H_

#include "services/score/score_module.h"

namespace mlpipe::score {

// --score_default_alias, --score_max_concurrent, --score_max_rows,
// --score_worker_threads, --score_log_queue, --score_log_inputs,
// --score_batch_threads, and the service addresses (--train_address,
// --prep_address, --ingest_address, --orchestrator_address,
// --monitor_address).
ScoreModuleOptions ScoreOptionsFromFlags();

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_SCORE_FLAGS_H_
