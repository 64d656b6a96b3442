// Schemas of datasets: inferred from statistics, and datasets validated
// against them. Anomalies get a severity from a policy: kinds listed in
// `fail_on` are errors, the rest warnings.
#ifndef MLPIPE_COMMON_FEATURES_SCHEMA_H_
#define MLPIPE_COMMON_FEATURES_SCHEMA_H_

#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/schema.pb.h"
#include "mlpipe/v1/statistics.pb.h"

namespace mlpipe::features {

struct SchemaInferenceOptions {
  // Categorical columns with at most this many distinct values get their
  // categories listed (so new ones are reported). Default 100.
  int max_listed_categories = 100;
  // Accepted missing fraction = observed + this margin (capped at 1).
  // Default 0.05.
  double missing_margin = 0.05;
};

// A schema describing `stats`: every column with its type, observed range
// and (for small domains) categories.
v1::DataSchema InferSchema(const v1::DatasetStatistics& stats,
                           const std::string& label,
                           const SchemaInferenceOptions& options = {});

// Reads a schema written in a pipeline (`schema: {columns: {Age: {type:
// numeric, min: 18, max: 100, max_missing: 0}, Home: {categories: [...]}}}`).
// INVALID_ARGUMENT naming the entry.
absl::StatusOr<v1::DataSchema> SchemaFromStruct(
    const google::protobuf::Struct& s);

// The columns `environment`'s data lacks (TFDV's schema environments): those
// whose not_in_environment names it, and in SERVING the schema's label.
// Empty for no environment.
std::set<std::string> NotInEnvironment(const v1::DataSchema& schema,
                                       const std::string& environment);

// Anomalies of `stats` against `schema`; `previous` (may be null) are the
// statistics of the dataset's previous version, for the label shift check.
// Kinds in `fail_on` are errors. The report passes when there is no error.
v1::ValidationReport Validate(const v1::DataSchema& schema,
                              const v1::DatasetStatistics& stats,
                              const v1::DatasetStatistics* previous,
                              const std::set<v1::Anomaly::Kind>& fail_on);

// "missing_column" -> MISSING_COLUMN, ...; INVALID_ARGUMENT for other names.
absl::StatusOr<v1::Anomaly::Kind> AnomalyKindFromName(const std::string& name);

}  // namespace mlpipe::features

#endif  // MLPIPE_COMMON_FEATURES_SCHEMA_H_
