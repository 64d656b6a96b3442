// Training/serving skew between two dataset versions, per column (TFDV's
// skew comparator), gRPC-free:
//  - numbers and timestamps: the Jensen-Shannon distance (base 2, in
//    [0, 1]) of the shares of a's and b's values in the same bins, at a's
//    deciles - the bins and the distance of the monitor's drift
//    (common/ml/drift.h), as scipy.spatial.distance.jensenshannon on
//    numpy.digitize bins; exact while a column has at most 65,536 values,
//    within a KLL sketch's rank error past that;
//  - categories: the largest difference of a top value's frequency
//    (L-infinity, as TFDV).
#ifndef MLPIPE_SERVICES_PREP_SKEW_H_
#define MLPIPE_SERVICES_PREP_SKEW_H_

#include <map>
#include <set>
#include <string>

#include "common/features/sketches.h"
#include "common/table/table.h"
#include "mlpipe/v1/prep_service.pb.h"
#include "mlpipe/v1/statistics.pb.h"

namespace mlpipe::prep {

// The values of numeric and timestamp (microseconds) columns, by name.
using ColumnValues = std::map<std::string, features::QuantileSketch>;

// Adds the values `chunk` has of the columns `values` holds (missing ones
// left out).
void AddColumnValues(const table::Table& chunk, ColumnValues* values);

// The numeric and timestamp columns of `a` whose values the comparison
// needs: those `b` has with the same type, but `excluded`.
std::set<std::string> BinnedColumns(const v1::DatasetStatistics& a,
                                    const v1::DatasetStatistics& b,
                                    const std::set<std::string>& excluded);

// Every column of `a` and `b` but `excluded`, compared; `values_a` and
// `values_b` hold the values of the BinnedColumns.
v1::CompareStatisticsResponse CompareColumns(
    const v1::DatasetStatistics& a, const v1::DatasetStatistics& b,
    const ColumnValues& values_a, const ColumnValues& values_b,
    const std::set<std::string>& excluded, double threshold);

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_SKEW_H_
