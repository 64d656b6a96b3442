#ifndef MLPIPE_CLI_SPLIT_COMMANDS_H_
#define MLPIPE_CLI_SPLIT_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe splits list [--dataset D] | splits show ID |
// splits create (--feature-set FS | --dataset D [--version N])
//   --strategy S [--ratios train=0.7,test=0.3] [--seed N] [--label L]
//   [--column C] [--group-column G] [--folds K]
int RunSplits(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_SPLIT_COMMANDS_H_
