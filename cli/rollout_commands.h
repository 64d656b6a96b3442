#ifndef MLPIPE_CLI_ROLLOUT_COMMANDS_H_
#define MLPIPE_CLI_ROLLOUT_COMMANDS_H_

#include <string>

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe rollout start MODEL_VERSION [--alias A] [--plan FILE | --steps L]
// mlpipe rollout status ALIAS [--html FILE]
// mlpipe rollout pause|resume|abort ALIAS [--reason R]
int RunRollout(const Args& args, Context& ctx);
// A canary rollout of `version` on `alias` by `plan` (a YAML file with the
// deploy step's `canary:` mapping, or rising percentages "5,25,50,100"):
// what `mlpipe deploy VERSION --canary PLAN` does.
int StartRollout(const std::string& version, const std::string& alias,
                 const std::string& plan, const std::string& by, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_ROLLOUT_COMMANDS_H_
