#ifndef MLPIPE_CLI_SCORE_COMMANDS_H_
#define MLPIPE_CLI_SCORE_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe deploy MODEL_VERSION [--alias A] [--canary P] [--shadow]
//   [--traffic "credit:1=90,credit:2=10"] [--latency-budget-ms X]
int RunDeploy(const Args& args, Context& ctx);
// mlpipe undeploy MODEL_VERSION [--alias A]
int RunUndeploy(const Args& args, Context& ctx);
// mlpipe rollback [--alias A] [--reason R]
int RunRollback(const Args& args, Context& ctx);
// mlpipe deployments list | history [ALIAS]
int RunDeployments(const Args& args, Context& ctx);
// mlpipe predict [--model M] (--json ROW | --file ROWS.jsonl | --keys k1,k2)
int RunPredict(const Args& args, Context& ctx);
// mlpipe batch-score --model M (--dataset D [--version N] | --feature-set FS)
//   [--keep id,...] [--out FILE.csv] | batch-score list | show ID |
//   export ID --out FILE.csv
int RunBatchScore(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_SCORE_COMMANDS_H_
