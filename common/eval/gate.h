// The blessing gate: absolute bounds on metrics, then the improvement over
// the baseline (the model that holds the alias) on the same rows. See
// v1::GateSpec for the rules, ties included. gRPC-free.
#ifndef MLPIPE_COMMON_EVAL_GATE_H_
#define MLPIPE_COMMON_EVAL_GATE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mlpipe/v1/evaluation.pb.h"

namespace mlpipe::eval {

struct Baseline {
  std::string model;  // e.g. "credit:3"
  std::vector<v1::MetricValue> metrics;
};

// INVALID_ARGUMENT naming a bound or metric the task does not have.
absl::Status CheckGate(const v1::GateSpec& gate, v1::Task task);

// The verdict for `candidate`'s metrics; `baseline` null when nothing holds
// the alias. REQUIRES: CheckGate passed.
v1::Verdict Judge(const std::vector<v1::MetricValue>& candidate,
                  const Baseline* baseline, const v1::GateSpec& gate,
                  v1::Task task);

}  // namespace mlpipe::eval

#endif  // MLPIPE_COMMON_EVAL_GATE_H_
