// A model version's reference, built from the model's own data: the raw
// fields (and the label) of its split's training rows, and what the model
// predicts on the held-out rows (the prediction reference). gRPC-free: the
// data comes through ReferenceSources.
#ifndef MLPIPE_SERVICES_MONITOR_REFERENCE_H_
#define MLPIPE_SERVICES_MONITOR_REFERENCE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ops/operation_manager.h"
#include "common/table/frame_reader.h"
#include "mlpipe/v1/model.pb.h"
#include "mlpipe/v1/monitor.pb.h"
#include "mlpipe/v1/split.pb.h"
#include "services/monitor/profile.h"

namespace mlpipe::monitor {

class ReferenceSources {
 public:
  virtual ~ReferenceSources() = default;
  virtual absl::StatusOr<v1::ModelArtifact> GetModel(const std::string& id) = 0;
  virtual absl::StatusOr<v1::Split> GetSplit(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
      const std::string& id) = 0;
  // The rows of a dataset version, in order, with only `columns`.
  virtual absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns) = 0;
};

// Rows of the split's `part` (default "train") make the input and label
// reference; the model's predictions on the rows of its other parts the
// prediction reference (a model without a split: every row, both). Reads
// the dataset once. INVALID_ARGUMENT for a part the split lacks,
// FAILED_PRECONDITION when the split does not cover the dataset version.
absl::StatusOr<v1::MonitorReference> BuildReference(
    const v1::ModelArtifact& model, ReferenceSources* sources,
    const std::string& part, const ProfileOptions& options,
    ops::Progress& progress);

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_REFERENCE_H_
