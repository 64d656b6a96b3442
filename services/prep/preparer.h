// The data-prep domain (no gRPC): statistics of dataset versions, stored in
// RocksDB once computed (versions are immutable).
//
// Column families: statistics ("<dataset>@<version>" -> v1::DatasetStatistics
// of every column), events.
#ifndef MLPIPE_SERVICES_PREP_PREPARER_H_
#define MLPIPE_SERVICES_PREP_PREPARER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/features/schema.h"
#include "common/features/statistics.h"
#include "common/storage/store.h"
#include "common/table/table.h"

namespace mlpipe::prep {

// Rows of one dataset version, chunk by chunk.
class DatasetReader {
 public:
  virtual ~DatasetReader() = default;
  // The version being read (resolved when 0, "latest", was asked for).
  virtual int64_t version() const = 0;
  // The next chunk; false at the end.
  virtual absl::StatusOr<bool> Next(table::Table* chunk) = 0;
};

// Opens a reader for (dataset, version); NOT_FOUND when absent.
using DatasetReaderFactory =
    std::function<absl::StatusOr<std::unique_ptr<DatasetReader>>(
        const std::string& dataset, int64_t version)>;

struct PreparerOptions {
  features::StatisticsOptions statistics;
};

// Thread-safe.
class Preparer {
 public:
  static storage::Options StorageOptions();
  Preparer(PreparerOptions options, storage::Store* store,
           events::EventLog* events, DatasetReaderFactory readers)
      : options_(std::move(options)),
        store_(store),
        events_(events),
        readers_(std::move(readers)) {}

  // Statistics of `columns` (all when empty) of the dataset version,
  // computed once per version and then served from the store.
  absl::StatusOr<v1::DatasetStatistics> ComputeStatistics(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns);

  // Validates a dataset version against `schema` (inferred from the previous
  // version when null). Emits data.anomaly when there are anomalies.
  // INVALID_ARGUMENT for an unknown anomaly kind in `fail_on`.
  absl::StatusOr<v1::ValidationReport> Validate(
      const std::string& dataset, int64_t version, const v1::DataSchema* schema,
      const std::string& label, const std::vector<std::string>& fail_on);

 private:
  PreparerOptions options_;
  storage::Store* const store_;
  events::EventLog* const events_;
  DatasetReaderFactory readers_;
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PREPARER_H_
