#ifndef MLPIPE_CLI_MONITOR_COMMANDS_H_
#define MLPIPE_CLI_MONITOR_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe monitor report MODEL [--windows N] [--html FILE]
// mlpipe monitor reference MODEL_VERSION [--part P]
// mlpipe monitor policy MODEL_VERSION [--min-accuracy X ...] [--rollback]
int RunMonitor(const Args& args, Context& ctx);
// mlpipe actuals send FILE [--id-column C] [--actual-column C]
int RunActuals(const Args& args, Context& ctx);
// mlpipe alerts list [--model VERSION] [--kind drift|performance] [--limit N]
int RunAlerts(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_MONITOR_COMMANDS_H_
