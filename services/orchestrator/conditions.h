// `when:` conditions on the results of earlier steps:
//   evaluate.blessed            true when the result is truthy
//   !load.empty                 negation
//   load.rows != 0              == and != against true/false, a number or a
//   train.best == "gbdt"        string (quoted or bare)
//   split.state == SUCCEEDED    `state` is the step's state when no result
//                               of that name exists
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_CONDITIONS_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_CONDITIONS_H_

#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "mlpipe/v1/orchestrator_service.pb.h"

namespace mlpipe::orchestrator {

// The results a step declares, by step name: exact names, or patterns with
// one '*' standing for any text ("*_rows"). An empty list declares nothing
// (any name is accepted).
using ResultNames =
    std::function<std::vector<std::string>(const std::string& step)>;

// Syntax, that the step it names is in `allowed` (the steps the conditional
// step comes after, directly or not), and that the result it reads is one
// that step declares (or `state`). INVALID_ARGUMENT naming the known ones.
absl::Status CheckCondition(std::string_view expr,
                            const std::set<std::string>& allowed,
                            const ResultNames& results = nullptr);

absl::StatusOr<bool> EvaluateCondition(
    std::string_view expr,
    const std::map<std::string, v1::StepExecution>& steps);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_CONDITIONS_H_
