#ifndef MLPIPE_CLI_AUDIT_COMMANDS_H_
#define MLPIPE_CLI_AUDIT_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe audit list [--since 1h|2026-12-01T00:00:00Z] [--principal P]
//                   [--method M] [--limit N]
int RunAudit(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_AUDIT_COMMANDS_H_
