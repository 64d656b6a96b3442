// Column statistics computed streaming over any number of chunks of rows and
// mergeable across chunks (and so across workers): count, missing, mean,
// standard deviation, min, max, quantiles, histogram, distinct count and top
// values. Not thread-safe; give each thread its own accumulator and Merge.
#ifndef MLPIPE_COMMON_FEATURES_STATISTICS_H_
#define MLPIPE_COMMON_FEATURES_STATISTICS_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/features/sketches.h"
#include "common/table/table.h"
#include "mlpipe/v1/statistics.pb.h"

namespace mlpipe::features {

struct StatisticsOptions {
  std::vector<double> quantile_points = {0.01, 0.05, 0.25, 0.5,
                                         0.75, 0.95, 0.99};
  int histogram_buckets = 20;  // Equal-width buckets between min and max.
  size_t top_k = 20;           // Top values reported for string columns.
  size_t exact_quantile_limit = 1 << 16;  // Values kept for exact quantiles.
  int kll_k = 200;  // Sketch size beyond that (1.66% rank error).
  size_t exact_distinct_limit = 4096;  // Distinct values counted exactly.
  size_t top_values_capacity = 4096;   // Distinct strings tracked exactly.
};

class ColumnStatisticsAccumulator {
 public:
  ColumnStatisticsAccumulator(std::string name,
                              const StatisticsOptions& options);
  // Adds a chunk of the column. Its type fixes the column's type the first
  // time it is not kUnknown; a later chunk of another type is cast to it
  // when possible (numbers to text) and FAILED_PRECONDITION otherwise.
  absl::Status Add(const table::Column& column);
  // REQUIRES: same column name; types compatible as for Add.
  absl::Status Merge(const ColumnStatisticsAccumulator& other);
  v1::ColumnStatistics Finish() const;

 private:
  bool IsNumeric() const {
    return type_ == table::ColumnType::kNumeric ||
           type_ == table::ColumnType::kTimestamp;
  }
  void AddNumber(double v);

  std::string name_;
  StatisticsOptions options_;
  table::ColumnType type_ = table::ColumnType::kUnknown;
  std::string timestamp_format_;
  int64_t count_ = 0, missing_ = 0;
  // Numbers: Welford's running mean and sum of squared deviations, merged
  // with Chan et al.'s formula.
  int64_t n_ = 0, zeros_ = 0;
  double mean_ = 0, m2_ = 0, sum_ = 0, min_ = 0, max_ = 0;
  QuantileSketch quantiles_;
  // Strings.
  double length_sum_ = 0;
  TopValues top_;
  DistinctCounter distinct_;
};

// Statistics of every column of a table, by column name.
class TableStatisticsAccumulator {
 public:
  explicit TableStatisticsAccumulator(StatisticsOptions options = {})
      : options_(std::move(options)) {}
  absl::Status Add(const table::Table& chunk);
  absl::Status Merge(const TableStatisticsAccumulator& other);
  // Columns in the order first seen.
  v1::DatasetStatistics Finish() const;

 private:
  ColumnStatisticsAccumulator& Column(const std::string& name);
  StatisticsOptions options_;
  int64_t rows_ = 0;
  std::vector<std::string> order_;
  std::map<std::string, std::unique_ptr<ColumnStatisticsAccumulator>> columns_;
};

}  // namespace mlpipe::features

#endif  // MLPIPE_COMMON_FEATURES_STATISTICS_H_
