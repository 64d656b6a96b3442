// Profiles: the distribution of every field of a stream of rows (logged
// predictions, or a model's training rows as the reference) in bounded
// memory, mergeable, persisted as mlpipe.v1.Profile; and the drift report
// between two of them. gRPC-free.
//
// Memory per field: a KLL sketch of ~k log(n/k) values for numbers (k 200:
// rank error 1.66%, see features::QuantileSketch), at most max_categories
// counters for strings of at most max_category_bytes (the rest, and longer
// strings, are counted together as "other"). The
// statistics' error bounds are in common/ml/drift.h.
#ifndef MLPIPE_SERVICES_MONITOR_PROFILE_H_
#define MLPIPE_SERVICES_MONITOR_PROFILE_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/features/sketches.h"
#include "common/table/table.h"
#include "mlpipe/v1/monitor.pb.h"
#include "mlpipe/v1/prediction.pb.h"

namespace mlpipe::monitor {

// Field names for what the model answered, next to its raw input fields.
inline constexpr char kPredictionField[] =
    "prediction";  // P(positive) or value.
inline constexpr char kLabelField[] = "predicted_class";  // Classification.

struct ProfileOptions {
  size_t max_categories = 1000;  // Distinct strings counted per field.
  // Longer strings are counted as "other", never kept: a field's counters
  // hold at most max_categories * max_category_bytes of text.
  size_t max_category_bytes = 256;
  int sketch_k = 200;
};

// Not thread-safe.
class Profiler {
 public:
  explicit Profiler(ProfileOptions options = {}) : options_(options) {}
  // DATA_LOSS when the profile is inconsistent.
  static absl::StatusOr<Profiler> FromProto(const v1::Profile& profile,
                                            ProfileOptions options = {});
  v1::Profile ToProto() const;

  // One logged prediction: its raw input fields, and kPredictionField /
  // kLabelField from its scores and label. Shadow predictions are not the
  // served distribution: callers skip them.
  void AddRecord(const v1::PredictionRecord& record);
  // Rows of a table (the reference: training rows), every column a field
  // (timestamps as microseconds, as Predict takes them); only the rows whose
  // `keep` is non-zero when given (one per row).
  void AddTable(const table::Table& t,
                const std::vector<uint8_t>* keep = nullptr);
  // A field's kind is set by its first value; a value of the other kind
  // counts as missing.
  void AddNumber(const std::string& field, double v);  // NaN: missing.
  // `n` values of one field at once (a column); rows are counted by EndRow
  // or AddTable, not here.
  void AddNumbers(const std::string& field, const double* v, size_t n);
  void AddString(const std::string& field, std::string_view v);
  // `n` strings of one field at once (a column), as AddNumbers.
  void AddStrings(const std::string& field, const std::string_view* v,
                  size_t n);
  void AddMissing(const std::string& field);
  void EndRow() { ++rows_; }
  // INVALID_ARGUMENT when a field has different kinds in the two.
  absl::Status Merge(const Profiler& other);
  uint64_t rows() const { return rows_; }

 private:
  struct Field {
    v1::FieldProfile::Kind kind = v1::FieldProfile::NUMERIC;
    bool typed = false;
    bool timestamp = false;  // NUMERIC: a timestamp column's microseconds.
    uint64_t count = 0, missing = 0;
    features::QuantileSketch values;
    double min = 0, max = 0;
    // Looked up by string_view: no string built per value.
    absl::flat_hash_map<std::string, uint64_t> categories;
    uint64_t other = 0;
  };
  Field& Get(const std::string& name, v1::FieldProfile::Kind kind);
  static void AddNumberTo(Field& f, double v);
  void AddStringTo(Field& f, std::string_view v);

  ProfileOptions options_;
  uint64_t rows_ = 0;
  std::map<std::string, Field> fields_;
};

struct DriftThresholds {
  double psi = 0.2;            // Numbers: PSI over the reference's deciles.
  double jensenshannon = 0.1;  // Strings: JS distance of the category shares.
  int bins = 10;
};

// Every field both profiles have, compared (fields only one has are left
// out). INVALID_ARGUMENT when a field's kinds differ, DATA_LOSS when a
// profile is corrupt.
absl::StatusOr<v1::DriftReport> Compare(const v1::Profile& reference,
                                        const v1::Profile& current,
                                        const DriftThresholds& thresholds = {});

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_PROFILE_H_
