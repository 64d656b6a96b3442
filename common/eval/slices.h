// Metrics per slice of the rows: per value of a column, or per combination
// of values of several (crossed slices), with row counts, and the widest gap
// of the headline metric between the slices of each kind (a fairness
// check). gRPC-free.
#ifndef MLPIPE_COMMON_EVAL_SLICES_H_
#define MLPIPE_COMMON_EVAL_SLICES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/eval/metrics.h"

namespace mlpipe::eval {

// A column's value for every row of the predictions, as text (missing values
// as ml::kMissingText, "(missing)").
struct SliceColumn {
  std::string name;
  std::vector<std::string> values;
};

struct SliceReport {
  std::vector<v1::SliceMetrics> slices;  // By spec, then by key.
  std::vector<v1::SliceGap> gaps;        // One per spec with two slices.
};

// Slices `p` by each of `specs` (column names; one name slices by that
// column's values, several by their combinations). Slices with fewer than
// `min_rows` rows are reported as too small and left out of the gap.
// INVALID_ARGUMENT for an unknown column or one of the wrong length.
absl::StatusOr<SliceReport> Slice(
    const Predictions& p, const Options& options,
    const std::vector<SliceColumn>& columns,
    const std::vector<std::vector<std::string>>& specs, int64_t min_rows);

}  // namespace mlpipe::eval

#endif  // MLPIPE_COMMON_EVAL_SLICES_H_
