#ifndef MLPIPE_CLI_EVAL_COMMANDS_H_
#define MLPIPE_CLI_EVAL_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe eval list [--model M] [--limit N] | eval show ID |
// eval report ID --html FILE
int RunEval(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_EVAL_COMMANDS_H_
