// Feature transforms: parsed from a pipeline's `transforms:` list, fitted to
// training data into a v1::FittedTransform, and applied by one piece of code
// to batches (prep) and to single requests (score). Both paths call the same
// per-value functions, so they give bit-identical features.
//
// Each entry names columns and a chain of steps, applied in this order:
//   numbers: impute -> clip -> log1p -> scale -> bucketize
//   timestamps: impute -> timestamp_parts (or the number steps, on micros)
//   strings: impute -> one_hot | hash | tokens (text token hashing)
// Optionally followed by feature selection (SelectFeatures).
// e.g. {columns: [Income], impute: median, clip: {quantiles: [0.01, 0.99]},
//       scale: standard}   {columns: [Home], impute: mode, one_hot:
//       {max_categories: 20}}
// Every step is fitted on the output of the steps before it, as in a
// scikit-learn Pipeline. Fitting holds the training values of one column in
// memory at a time.
#ifndef MLPIPE_COMMON_FEATURES_TRANSFORM_H_
#define MLPIPE_COMMON_FEATURES_TRANSFORM_H_

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "common/table/table.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/transform.pb.h"

namespace mlpipe::features {

struct TransformSpec {
  std::vector<std::string> columns;
  std::optional<v1::ImputeStep> impute;  // Strategy and constant; fitted later.
  std::optional<std::pair<double, double>> clip_quantiles;
  std::optional<std::pair<double, double>> clip_bounds;
  bool log1p = false;
  std::string scale;                          // "", "standard" or "minmax".
  int bucketize_quantiles = 0;                // Number of quantile buckets.
  std::optional<int> one_hot_max_categories;  // 0: no limit.
  int hash_buckets = 0;
  std::vector<v1::TimestampPartsStep::Part> timestamp_parts;
  int token_buckets = 0;
};

// Parses a pipeline's `transforms:` list. INVALID_ARGUMENT naming the entry
// and key ("transforms[1].scale: ...").
absl::StatusOr<std::vector<TransformSpec>> ParseTransformSpecs(
    const google::protobuf::ListValue& list);

// Fits `specs` to `training`. INVALID_ARGUMENT for unknown columns, steps that
// do not suit the column's type, or data they cannot handle (log1p of values
// <= -1).
absl::StatusOr<v1::FittedTransform> FitTransform(
    const std::vector<TransformSpec>& specs, const table::Table& training);

// Feature selection, fitted after the columns: scores every output of
// `fitted` on `training` against the `label` column (classes: its distinct
// values) and keeps the `k` best (ties: the earlier output).
//   "chi2": scikit-learn's chi2 (outputs must be non-negative: one-hot,
//     hashed, min-max scaled or bucketized features).
//   "mutual_info": mutual information (nats) of the label with the output,
//     discretized into at most 16 equal-frequency bins (exact for outputs
//     with few distinct values, such as one-hot columns).
// INVALID_ARGUMENT for an unknown method, a missing label or k < 1.
absl::Status SelectFeatures(const table::Table& training,
                            const std::string& label, const std::string& method,
                            int k, v1::FittedTransform* fitted);

// A value of one raw field in a request: missing, a number or a string.
using RawValue = std::variant<std::monostate, double, std::string>;

// DATA_LOSS naming the column when a stored transform's steps would write
// outside the outputs it declares (one-hot categories, hash buckets, time
// parts, the missing indicator) or its selection keeps an output it does
// not have. A transform that FitTransform made passes; TransformApplier
// REQUIRES a transform that passes.
absl::Status CheckFitted(const v1::FittedTransform& fitted);

// Applies a fitted transform. Thread-safe after construction.
class TransformApplier {
 public:
  explicit TransformApplier(v1::FittedTransform fitted);
  const std::vector<std::string>& output_names() const { return names_; }
  const v1::FittedTransform& fitted() const { return fitted_; }

  // Every output feature for every row, as NUMERIC columns. INVALID_ARGUMENT
  // when an input column is absent or of the wrong type.
  absl::StatusOr<table::Table> ApplyBatch(const table::Table& input) const;
  // One row: `fields` by input name; `out` receives output_names().size()
  // values. INVALID_ARGUMENT naming a missing or mistyped field.
  absl::Status ApplyRow(const std::map<std::string, RawValue>& fields,
                        std::vector<double>* out) const;

 private:
  v1::FittedTransform fitted_;
  std::vector<std::string> names_;  // After selection.
  size_t all_outputs_ = 0;          // Before selection.
  std::vector<size_t> offsets_;     // First output of each column.
};

}  // namespace mlpipe::features

#endif  // MLPIPE_COMMON_FEATURES_TRANSFORM_H_
