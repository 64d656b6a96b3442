// Split strategies (no gRPC, no storage): the columns a strategy needs are
// collected compactly as rows stream in (SplitInputs), then every row is
// assigned a part (and, for cross-validation, a fold). Everything here is
// deterministic: the same inputs and seed give the same assignment on any
// machine (own PRNG and hashes, no std:: distributions).
#ifndef MLPIPE_SERVICES_SPLIT_ASSIGN_H_
#define MLPIPE_SERVICES_SPLIT_ASSIGN_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/split_spec.h"
#include "common/table/table.h"
#include "mlpipe/v1/split.pb.h"

namespace mlpipe::split {

constexpr uint8_t kNoPart = 255;
constexpr uint8_t kNoFold = 255;
// A numeric label with at most this many distinct integral values is a class
// label (e.g. 0/1); otherwise it is continuous and stratified by deciles.
constexpr int kMaxNumericClasses = 20;

// The columns a split reads, compacted.
struct SplitInputs {
  int64_t rows = 0;
  // The label: classes (index into `classes`, -1 missing) or continuous
  // values (NaN missing). `label_kind` "" when there is no label.
  std::string label_kind;
  std::vector<std::string> classes;
  std::vector<int32_t> label_class;
  std::vector<double> label_value;
  // The strategy's column: a 64-bit hash of each value's text (hash), its
  // order (time: microseconds or numbers), or its part (explicit: index into
  // `names`). Valid flags per row.
  std::vector<uint64_t> key;
  std::vector<double> order;
  std::vector<int32_t> named;
  std::vector<std::string> names;
  std::vector<uint8_t> column_valid;
  // group_column: a hash per row.
  std::vector<uint64_t> group;
  std::vector<uint8_t> group_valid;
};

// Collects SplitInputs from chunks of rows, in row order.
class InputsBuilder {
 public:
  // REQUIRES: CheckSpec(spec) is OK; spec.label resolved.
  explicit InputsBuilder(const v1::SplitSpec& spec);
  // The columns to read.
  std::vector<std::string> Columns() const;
  // INVALID_ARGUMENT naming the column when a chunk lacks one or its type
  // does not fit the strategy.
  absl::Status Add(const table::Table& chunk);
  SplitInputs Finish();

 private:
  // Each appends a chunk's n rows of one column to in_ (the label, the
  // strategy's column, group_column).
  absl::Status AddLabel(const table::Column& col, size_t n);
  absl::Status AddColumn(const table::Column& col, size_t n);
  void AddGroup(const table::Column& col, size_t n);

  v1::SplitSpec spec_;
  SplitInputs in_;
  bool label_numeric_ = false;
  std::unordered_map<std::string, int32_t> label_codes_;
  std::unordered_map<std::string, int32_t> name_codes_;
};

struct Assignment {
  std::vector<std::string> part_names;
  std::vector<uint8_t> parts;  // One per row; kNoPart when in no part.
  std::vector<uint8_t> folds;  // Empty without folds; kNoFold outside.
};

// Assigns every row. REQUIRES: NormalizeSpec(spec) is OK.
absl::StatusOr<Assignment> Assign(const v1::SplitSpec& spec,
                                  const SplitInputs& in);

// Counts, label distribution per part and warnings (see SplitWarning; the
// codes are WarningCodes()).
void Summarize(const v1::SplitSpec& spec, const SplitInputs& in,
               const Assignment& a, v1::Split* out);

// Exposed for tests.
// Per-class part sizes: each within one row of n_c * ratio_p, and each
// part's total within one row of N * ratio_p (controlled rounding).
std::vector<std::vector<int64_t>> StratifiedCounts(
    const std::vector<int64_t>& class_rows, const std::vector<double>& ratios);
// Part sizes of n rows: each within one row of n * ratio (largest remainder).
std::vector<int64_t> ApportionRows(int64_t n,
                                   const std::vector<double>& ratios);
// The stable 64-bit hash of a value's text (FNV-1a, then mixed).
uint64_t HashText(std::string_view text);

}  // namespace mlpipe::split

#endif  // MLPIPE_SERVICES_SPLIT_ASSIGN_H_
