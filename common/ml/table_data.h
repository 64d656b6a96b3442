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
#include "common/table/frame_reader.h"
#include "common/table/table.h"
#include "mlpipe/v1/frame.pb.h"
#include "mlpipe/v1/split.pb.h"
#include "mlpipe/v1/task.pb.h"

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

inline constexpr char kMissingText[] = "(missing)";

// The rows of one part of a split, read from its feature set.
struct PartRows {
  TrainingData data;
  // With folds: the fold of every row kept (aligned with data's rows).
  std::vector<uint8_t> folds;
  // `text_columns`' values of the rows kept, as text ("(missing)" when
  // missing): what slices group by.
  std::map<std::string, std::vector<std::string>> text;
};

struct PartRowsSpec {
  // The part index of every row of the feature set (rows align with the
  // split's); other values: in no wanted part.
  const std::vector<uint8_t>* assignment = nullptr;
  // Optional: every row's fold (cross-validation).
  const std::vector<uint8_t>* folds = nullptr;
  std::vector<int> parts;       // Part indexes wanted, in output order.
  std::vector<size_t> reserve;  // Expected rows per wanted part (a hint).
  std::vector<std::string> features;
  std::string label;  // Empty for clustering.
  std::vector<std::string> text_columns;
};

// A split's row assignments (its ReadAssignments chunks) as one byte per row:
// the part index and, when `folds` is given, the fold. DATA_LOSS unless they
// cover exactly `rows` rows.
absl::Status FlattenAssignments(const std::vector<v1::SplitAssignments>& chunks,
                                int64_t rows, std::vector<uint8_t>* parts,
                                std::vector<uint8_t>* folds);

// One pass over `reader` (a feature set's rows, with the features, label
// and text columns) routing every row to its part; rows without a label are
// left out (so folds stay aligned). DATA_LOSS when the reader runs past the
// assignment; INVALID_ARGUMENT as TrainingDataBuilder.
absl::StatusOr<std::vector<PartRows>> ReadParts(table::FrameReader& reader,
                                                const PartRowsSpec& spec,
                                                const LabelEncoder& encoder);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_TABLE_DATA_H_
