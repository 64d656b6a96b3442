// Model performance from delayed ground truth: a logged prediction and the
// actual that arrived for it later, accumulated per model version in
// bounded memory (mlpipe.v1.PerformanceState), mergeable. gRPC-free.
//
// Accuracy, RMSE, MAE and R² are exact. ROC AUC comes from histograms of
// P(positive) in kAucBins equal-width bins: pairs of a positive and a
// negative in the same bin count as ties (half), so the error is at most
// half the share of such pairs (for scores spread over [0, 1], about
// 1 / (2 * kAucBins)).
#ifndef MLPIPE_SERVICES_MONITOR_PERFORMANCE_H_
#define MLPIPE_SERVICES_MONITOR_PERFORMANCE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/monitor.pb.h"

namespace mlpipe::monitor {

inline constexpr int kAucBins = 1000;

// An actual as a class: a string as it is, a number as its text ("1").
// INVALID_ARGUMENT for anything else.
absl::StatusOr<std::string> ActualClass(const google::protobuf::Value& actual);

// Not thread-safe.
class PerformanceAccumulator {
 public:
  // `classes`: BINARY [negative, positive]; MULTICLASS every class.
  PerformanceAccumulator(v1::Task task, std::vector<std::string> classes);
  // DATA_LOSS when the state is inconsistent.
  static absl::StatusOr<PerformanceAccumulator> FromProto(
      const v1::PerformanceState& state);
  v1::PerformanceState ToProto() const { return state_; }
  const v1::PerformanceState& state() const { return state_; }

  // One pair: what the version predicted (`scores` as Model::Predict gave
  // them, `label` the predicted class) and what turned out true.
  // INVALID_ARGUMENT when the actual does not fit the task (a class that is
  // not one of the model's, a number that is not finite, a type mismatch).
  absl::Status Add(const std::vector<double>& scores, const std::string& label,
                   const google::protobuf::Value& actual);
  // INVALID_ARGUMENT when the two are of different tasks or classes.
  absl::Status Merge(const PerformanceAccumulator& other);
  v1::Performance Summary() const;

 private:
  explicit PerformanceAccumulator(v1::PerformanceState state)
      : state_(std::move(state)) {}
  v1::PerformanceState state_;
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_PERFORMANCE_H_
