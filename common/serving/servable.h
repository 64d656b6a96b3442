// One model version loaded for serving: the model, its fitted transform and
// what a request must send, immutable once built (requests share it across
// threads and hold it for their duration, so an unloaded version stays alive
// until its last request ends). gRPC-free.
#ifndef MLPIPE_COMMON_SERVING_SERVABLE_H_
#define MLPIPE_COMMON_SERVING_SERVABLE_H_

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/features/transform.h"
#include "common/ml/model.h"
#include "common/table/table.h"
#include "mlpipe/v1/model.pb.h"
#include "mlpipe/v1/score_service.pb.h"

namespace mlpipe::serving {

// One request row: raw field name -> value (missing, number or string).
using RawRow = std::map<std::string, features::RawValue>;

// A raw field the model's transform reads.
struct InputField {
  std::string name;
  v1::ColumnType type = v1::COLUMN_TYPE_UNSPECIFIED;
  bool is_string = false;  // CATEGORICAL / TEXT; else a number.
};

// Per-version metric handles, set by the owner (created once per load so
// the hot path does no label lookups). May be null in tests.
struct ServableMetrics;

class Servable {
 public:
  // Checks the artifact's content hash, loads its model and transform.
  // DATA_LOSS for a corrupt artifact, FAILED_PRECONDITION for one without
  // learned parameters.
  static absl::StatusOr<std::shared_ptr<Servable>> Load(
      const v1::ModelArtifact& artifact);
  // The same around an already loaded model (Load's second half; tests wrap
  // models with it).
  static absl::StatusOr<std::shared_ptr<Servable>> Create(
      const v1::ModelArtifact& artifact, std::unique_ptr<ml::Model> model);

  const std::string& version() const { return summary_.id(); }
  const std::string& name() const { return summary_.name(); }
  // The artifact without its bulky fields (learned parameters, transform).
  const v1::ModelArtifact& summary() const { return summary_; }
  const ml::Model& model() const { return *model_; }
  const features::TransformApplier& transform() const { return transform_; }
  const std::vector<InputField>& inputs() const { return inputs_; }
  bool takes_missing() const { return takes_missing_; }
  int width() const { return model_->OutputWidth(); }
  size_t num_features() const { return model_->num_features(); }

  // The features of `rows` (row-major, num_features() per row), through the
  // shared transform code. INVALID_ARGUMENT naming every bad field (up to
  // ten): missing, unknown (unless ignore_extra), mistyped, not finite, or
  // missing where the model cannot take a missing value.
  absl::Status Features(const std::vector<RawRow>& rows, bool ignore_extra,
                        std::vector<double>* x) const;
  // The features of a table's rows (row-major, num_features() per row):
  // through the transform when `raw` (the table has the raw fields), else
  // the table's NUMERIC feature columns as they are. Checked as
  // CheckFeatures does; `what` names the rows in errors.
  absl::Status TableFeatures(const table::Table& t, bool raw,
                             const std::string& what,
                             std::vector<double>* x) const;
  // INVALID_ARGUMENT naming the first row and feature with a missing value
  // when the model cannot take one (for features from the online store).
  absl::Status CheckFeatures(const double* x, size_t rows,
                             const std::string& what) const;
  // Fills one prediction from the model's outputs for a row (width()
  // values).
  void Fill(const double* scores, v1::Prediction* out) const;
  // The predicted class for classification outputs, else "".
  std::string Label(const double* scores) const;

  ServableMetrics* metrics() const { return metrics_.get(); }
  void set_metrics(std::shared_ptr<ServableMetrics> m) {
    metrics_ = std::move(m);
  }

 private:
  Servable(v1::ModelArtifact summary, std::unique_ptr<ml::Model> model,
           v1::FittedTransform transform);

  v1::ModelArtifact summary_;
  std::unique_ptr<ml::Model> model_;
  features::TransformApplier transform_;
  std::vector<InputField> inputs_;
  std::unordered_map<std::string, size_t> input_index_;
  std::vector<std::string> feature_input_;  // Feature j -> its raw field.
  bool takes_missing_ = false;
  std::shared_ptr<ServableMetrics> metrics_;
};

}  // namespace mlpipe::serving

#endif  // MLPIPE_COMMON_SERVING_SERVABLE_H_
