// Every module the server binaries are made of, as ServerMain takes them
// (services/host/module_def.h). Each is defined beside its code, in
// services/<name>/<name>_module.cc with the flags it reads; a main.cc
// includes this header alone and lists the ones it serves.
#ifndef MLPIPE_SERVICES_MODULES_H_
#define MLPIPE_SERVICES_MODULES_H_

#include "services/host/module_def.h"

namespace mlpipe {

namespace ingest {
// Flags: --import_root.
const host::ModuleDef& IngestModuleDef();
}  // namespace ingest

namespace prep {
const host::ModuleDef& PrepModuleDef();
}  // namespace prep

namespace split {
const host::ModuleDef& SplitModuleDef();
}  // namespace split

namespace train {
// Flags: --train_replicas, --train_parallel_trials,
// --train_threads_per_candidate, --train_checkpoint_every,
// --train_parallel_jobs.
const host::ModuleDef& TrainModuleDef();
}  // namespace train

namespace evaluate {
const host::ModuleDef& EvaluateModuleDef();
}  // namespace evaluate

namespace score {
// Flags: --score_default_alias, --score_max_concurrent, --score_threads,
// --score_max_rows, --score_max_field_bytes, --score_worker_threads,
// --score_log_queue, --score_log_inputs, --score_batch_threads,
// --score_route_sync_ms.
const host::ModuleDef& ScoreModuleDef();
}  // namespace score

namespace monitor {
const host::ModuleDef& MonitorModuleDef();
}  // namespace monitor

namespace orchestrator {
const host::ModuleDef& OrchestratorModuleDef();
}  // namespace orchestrator

}  // namespace mlpipe

#endif  // MLPIPE_SERVICES_MODULES_H_
