// Metrics per slice of the rows: per value of a column, or per combination
// of values of several (crossed slices), with row counts, and the widest gap
// of the headline metric between the slices of each kind (a fairness
// check). gRPC-free.
#ifndef MLPIPE_COMMON_EVAL_SLICES_H_
#define MLPIPE_COMMON_EVAL_SLICES_H_

#include <cstdint>
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
  // Where each row's value sorts (numbers: by value); empty: by its text.
  std::vector<int32_t> order;
};

// Numbers as a slice column (NaN: missing). With `buckets` > 0, or when the
// numbers have more than kMaxNumericSlices distinct values (then 4 buckets):
// ranges "[lo, hi)" between their quantiles at 1/buckets, 2/buckets, ...
// (numpy's linear interpolation; equal edges merged; the last range closed);
// else one slice per value. `format` writes a number (a bound or a value).
inline constexpr int kMaxNumericSlices = 10;
SliceColumn NumericSliceColumn(std::string name,
                               const std::vector<double>& values, int buckets,
                               std::string (*format)(double));

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
