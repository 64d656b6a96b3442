#ifndef MLPIPE_CLI_PUSH_COMMANDS_H_
#define MLPIPE_CLI_PUSH_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe push --dataset NAME [--file PATH|-] [--producer NAME] ...: streams
// JSON lines to the ingestion service's Push (clients/push_client.h).
int RunPush(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_PUSH_COMMANDS_H_
