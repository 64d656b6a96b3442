// Checks of a split specification that need no data: the split service runs
// them before it starts an operation, the orchestrator when it validates a
// pipeline's split steps at submit.
#ifndef MLPIPE_CLIENTS_SPLIT_SPEC_H_
#define MLPIPE_CLIENTS_SPLIT_SPEC_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "mlpipe/v1/split.pb.h"

namespace mlpipe::split {

// At most this many parts (explicit splits; ratio splits take 2 or 3).
constexpr int kMaxParts = 16;

// Checks and normalizes a spec: strategy known, parts (2..3 by ratio, or
// one part with folds; default train/test 0.8/0.2 for the ratio strategies),
// ratios > 0 summing to 1, the columns the strategy needs, cut-offs.
// INVALID_ARGUMENT naming the field. Parts are put in canonical order
// (train, eval/validation, test, then by name).
absl::Status NormalizeSpec(v1::SplitSpec* spec);

// Checks a CreateSplit request without reading data (the RPC's fast path,
// and the orchestrator's check of a pipeline's split steps).
absl::Status CheckSplitSpec(const v1::SplitSpec& spec);

// The canonical order of part names: train, eval/validation, test, then by
// name.
bool CanonicalPartLess(const std::string& a, const std::string& b);

// The codes a split warns with: "empty_part, small_part, ..." and a test.
const std::vector<std::string>& WarningCodes();
bool IsWarningCode(const std::string& code);

}  // namespace mlpipe::split

#endif  // MLPIPE_CLIENTS_SPLIT_SPEC_H_
