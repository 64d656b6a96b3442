#ifndef MLPIPE_CLI_MODEL_COMMANDS_H_
#define MLPIPE_CLI_MODEL_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe models list [--name N] [--limit N] | models show ID |
// models trials [--job J] [--candidate C] [--order-by score] [--limit N]
int RunModels(const Args& args, Context& ctx);

// mlpipe train --split ID --config FILE [--feature-set FS] [--model NAME]
// Starts a training job (the config is a YAML StartTrainingRequest:
// candidates, search, ...), follows it with a progress bar, prints the
// models. Exit 0 when it succeeds, 4 for a rejected request, 6 when the
// job fails.
int RunTrain(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_MODEL_COMMANDS_H_
