// `when:` conditions on the results of earlier steps:
//   evaluate.blessed            true when the result is truthy
//   !load.empty                 negation
//   load.rows != 0              == and != against true/false, a number or a
//   train.best == "gbdt"        string (quoted or bare)
//   split.state == SUCCEEDED    `state` is the step's state when no result
//                               of that name exists
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_CONDITIONS_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_CONDITIONS_H_

#include <map>
#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "mlpipe/v1/orchestrator_service.pb.h"

namespace mlpipe::orchestrator {

// Syntax, and that the step it names is in `allowed` (the steps the
// conditional step comes after, directly or not). INVALID_ARGUMENT.
absl::Status CheckCondition(std::string_view expr,
                            const std::set<std::string>& allowed);

absl::StatusOr<bool> EvaluateCondition(
    std::string_view expr,
    const std::map<std::string, v1::StepExecution>& steps);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_CONDITIONS_H_
