// Step types backed by the data-prep service:
//   validate  {schema: infer | {columns: {...}}, fail_on: [missing_column,
//   ...],
//              dataset (default spec.dataset)}: checks the dataset version an
//              upstream step produced (else the latest) against the schema
//              (inferred from the previous version by default). The step
//              fails, naming each column and rule broken, when an anomaly
//              of a `fail_on` kind is found; other anomalies are warnings in
//              its results.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_PREP_STEPS_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_PREP_STEPS_H_

#include "services/orchestrator/executor.h"
#include "services/orchestrator/ingest_steps.h"

namespace mlpipe::orchestrator {

void RegisterPrepExecutors(ExecutorRegistry* registry, ChannelProvider prep);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_PREP_STEPS_H_
