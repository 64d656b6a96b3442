#ifndef MLPIPE_CLI_DATASET_COMMANDS_H_
#define MLPIPE_CLI_DATASET_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe ingest --dataset NAME --file PATH [--format csv|jsonl] ...
int RunIngest(const Args& args, Context& ctx);
// mlpipe datasets list | show NAME | delete NAME
int RunDatasets(const Args& args, Context& ctx);
// mlpipe export --dataset NAME --out FILE.csv [--columns a,b]
int RunExport(const Args& args, Context& ctx);

// mlpipe status: the server's grpc.health.v1 status.
int RunStatus(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_DATASET_COMMANDS_H_
