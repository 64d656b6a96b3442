// Step type backed by the scoring service:
//   deploy {model: ID (default: the upstream evaluate step's best_model,
//           else the train step's), alias (default production),
//           canary_percent (0 or 100: all traffic), shadow, latency_budget_ms,
//           monitor: {min_accuracy, min_auc, max_rmse, min_r2, min_actuals,
//                     rollback}}
//   Deploys the model under the alias (the scoring service loads it, stores
//   the route and points the registry's alias at the new primary). Gate it
//   with `when: evaluate.blessed`. With `monitor`, the version's monitoring
//   policy is set first: when its performance from actuals falls past a
//   bound, an alert is raised and (rollback: true) the alias rolled back.
//   Results: model_version, alias, primary, revision, percent; the route
//   revision as a "deployment" artifact. Not cached: deploying again what
//   already serves is a no-op.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_DEPLOY_STEPS_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_DEPLOY_STEPS_H_

#include "services/orchestrator/executor.h"
#include "services/orchestrator/ingest_steps.h"

namespace mlpipe::orchestrator {

void RegisterDeployExecutors(ExecutorRegistry* registry, ChannelProvider score,
                             ChannelProvider monitor);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_DEPLOY_STEPS_H_
