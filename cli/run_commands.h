#ifndef MLPIPE_CLI_RUN_COMMANDS_H_
#define MLPIPE_CLI_RUN_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe run PIPELINE.yaml [--watch] [--no-cache]
int RunPipeline(const Args& args, Context& ctx);
// mlpipe runs list | show ID | cancel ID | resume ID [--watch]
int RunRuns(const Args& args, Context& ctx);
// mlpipe lineage ID [--depth N]
int RunLineage(const Args& args, Context& ctx);
// mlpipe schedules create PIPELINE.yaml | list | delete ID
int RunSchedules(const Args& args, Context& ctx);
// mlpipe aliases list | history NAME | set NAME MODEL_VERSION
int RunAliases(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_RUN_COMMANDS_H_
