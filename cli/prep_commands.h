#ifndef MLPIPE_CLI_PREP_COMMANDS_H_
#define MLPIPE_CLI_PREP_COMMANDS_H_

#include "cli/cli.h"

namespace mlpipe::cli {

// mlpipe stats DATASET [--version N] [--columns a,b]
int RunStats(const Args& args, Context& ctx);

// mlpipe validate DATASET [--version N] [--schema FILE.yaml] [--fail-on a,b]
//                 [--label L]
int RunValidate(const Args& args, Context& ctx);

// mlpipe features show ID | features get ID --keys k1,k2 [--as-of T]
// [--features a,b]. get exits 3 when a key has no vector.
int RunFeatures(const Args& args, Context& ctx);

// mlpipe skew A B: training/serving skew per column; exits 4 when a column
// is skewed.
int RunSkew(const Args& args, Context& ctx);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_PREP_COMMANDS_H_
