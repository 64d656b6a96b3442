// What the parts of the transform library (transform.cc applies,
// transform_fit.cc fits, feature_select.cc selects) share. Not part of the
// public API: include transform.h instead.
#ifndef MLPIPE_COMMON_FEATURES_TRANSFORM_INTERNAL_H_
#define MLPIPE_COMMON_FEATURES_TRANSFORM_INTERNAL_H_

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/table/table.h"
#include "mlpipe/v1/transform.pb.h"

namespace mlpipe::features::internal {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One fitted number step applied to `x` (NaN = missing). Fitting runs it over
// the training values before fitting the next step, and applying runs it for
// every value, so both see the same bits. Inline: it sits in the per-row loop
// of the serving path.
inline double ApplyNumberStep(const v1::TransformStep& s, double x) {
  switch (s.kind_case()) {
    case v1::TransformStep::kImpute:
      return std::isnan(x) ? s.impute().number() : x;
    case v1::TransformStep::kClip:
      return std::isnan(x) ? x
                           : std::clamp(x, s.clip().lower(), s.clip().upper());
    case v1::TransformStep::kLog1P:
      return std::log1p(x);
    case v1::TransformStep::kScale:
      return (x - s.scale().offset()) / s.scale().scale();
    case v1::TransformStep::kBucketize: {
      if (std::isnan(x)) return x;
      const auto& e = s.bucketize().inner_edges();
      return static_cast<double>(std::upper_bound(e.begin(), e.end(), x) -
                                 e.begin());
    }
    default:
      return x;
  }
}

// Sets the content hash (of the columns and the selection, serialized
// deterministically) and the id derived from it.
void Seal(v1::FittedTransform* fitted);

// A numeric column as a categorical one of its values' texts (as a split
// names classes): FittedColumn.numbers_as_categories, at fit and at apply.
// Every row missing when the column is not numeric.
table::Column NumbersAsText(const table::Column& col);

}  // namespace mlpipe::features::internal

#endif  // MLPIPE_COMMON_FEATURES_TRANSFORM_INTERNAL_H_
