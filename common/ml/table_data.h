// Builds TrainingData from tables of rows (the frames a split part streams):
// the named feature columns (NUMERIC) into the matrix, the label column
// encoded for the task. Thread-compatible.
#ifndef MLPIPE_COMMON_ML_TABLE_DATA_H_
#define MLPIPE_COMMON_ML_TABLE_DATA_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ml/data.h"
#include "common/table/table.h"
#include "mlpipe/v1/frame.pb.h"
#include "mlpipe/v1/model.pb.h"

namespace mlpipe::ml {

// How label values become numbers: classification labels are the index of
// their class in `classes` (BINARY: [negative, positive]); regression labels
// are the numbers; clustering has none.
class LabelEncoder {
 public:
  LabelEncoder(v1::Task task, std::vector<std::string> classes);
  v1::Task task() const { return task_; }
  const std::vector<std::string>& classes() const { return classes_; }
  // The encoded labels of `rows` (indexes into a column of `n` rows, in the
  // wire form) into `out`, NaN where missing. INVALID_ARGUMENT for a class
  // not in classes() or a text regression label. Each distinct value is
  // looked up once per call (dictionary codes, or runs of equal values).
  absl::Status EncodeRows(const v1::Column& column, size_t n,
                          const std::vector<uint32_t>& rows,
                          std::vector<double>* out) const;

 private:
  absl::StatusOr<double> Class(const std::string& name,
                               const std::string& key) const;

  v1::Task task_;
  std::vector<std::string> classes_;
  std::map<std::string, int> index_;
};

class TrainingDataBuilder {
 public:
  // `label` empty for clustering.
  TrainingDataBuilder(std::vector<std::string> features, std::string label,
                      LabelEncoder encoder);
  // Expected rows in all (capacity; a hint).
  void Reserve(size_t rows);
  // Appends the rows of `t`; rows whose label is missing are skipped (and
  // counted). INVALID_ARGUMENT naming a missing or non-numeric feature
  // column, or a bad label.
  absl::Status Append(const table::Table& t);
  // The same from the wire form, without building a table first (the
  // training service's read path); only `rows` of it when given (indexes
  // into the frame, ascending).
  absl::Status AppendFrame(const v1::Frame& frame,
                           const std::vector<uint32_t>* rows = nullptr);
  int64_t skipped_rows() const { return skipped_; }
  TrainingData Finish();

 private:
  const std::vector<std::string> features_;
  const std::string label_;
  const LabelEncoder encoder_;
  TrainingData data_;
  int64_t skipped_ = 0;
  std::vector<uint32_t> all_rows_, kept_;  // Scratch, reused per frame.
  std::vector<double> labels_;
};

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_TABLE_DATA_H_
