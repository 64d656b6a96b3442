#ifndef MLPIPE_CLI_PREP_COMMANDS_H_
#define MLPIPE_CLI_PREP_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe stats DATASET [--version N] [--columns a,b]
int RunStats(const Args& args, Context& ctx);

// mlpipe validate DATASET [--version N] [--schema FILE.yaml] [--fail-on a,b]
//                 [--label L]
int RunValidate(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_PREP_COMMANDS_H_
