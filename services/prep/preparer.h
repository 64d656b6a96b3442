// The data-prep domain (no gRPC): statistics of dataset versions (stored
// once computed: versions are immutable), validation, fitted transforms,
// feature sets (the offline store) and the online store.
//
// Column families: statistics ("<dataset>@<version>" ->
// v1::DatasetStatistics of every column), transforms (id ->
// v1::FittedTransform), feature_sets (id -> v1::FeatureSet), features
// ("<feature set id>/<chunk index, 10 digits>" -> v1::Frame), the online
// store's (online_store.h), operations, events.
#ifndef MLPIPE_SERVICES_PREP_PREPARER_H_
#define MLPIPE_SERVICES_PREP_PREPARER_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/features/schema.h"
#include "common/features/statistics.h"
#include "common/features/transform.h"
#include "common/ops/operation_manager.h"
#include "common/storage/store.h"
#include "common/table/frame_reader.h"
#include "common/table/table.h"
#include "mlpipe/v1/ingest_service.pb.h"
#include "mlpipe/v1/prep_service.pb.h"
#include "services/prep/online_store.h"
#include "services/prep/skew.h"

namespace mlpipe::features {
struct TransformSpec;
class TransformApplier;
}  // namespace mlpipe::features

namespace mlpipe::prep {

// Rows of one dataset version, chunk by chunk.
class DatasetReader {
 public:
  virtual ~DatasetReader() = default;
  // The version being read (resolved when 0, "latest", was asked for).
  virtual int64_t version() const = 0;
  // Rows the reader will return (of the versions it reads).
  virtual int64_t row_count() const = 0;
  // The next chunk; false at the end.
  virtual absl::StatusOr<bool> Next(table::Table* chunk) = 0;
};

// What to read of a dataset version.
struct ReadScope {
  std::vector<std::string> columns;  // Empty: every column.
  // Only the rows that versions after this one added (0: every row).
  int64_t after_version = 0;
};

// Opens a reader for (dataset, version); NOT_FOUND when absent.
using DatasetReaderFactory =
    std::function<absl::StatusOr<std::unique_ptr<DatasetReader>>(
        const std::string& dataset, int64_t version, const ReadScope& scope)>;

// The rows of one part of a split of (dataset, version): one byte per row,
// non-zero for the part's rows. NOT_FOUND for an unknown split or part;
// FAILED_PRECONDITION when the split is of another dataset version.
using SplitPartRows = std::function<absl::StatusOr<std::vector<uint8_t>>(
    const std::string& split, const std::string& part,
    const std::string& dataset, int64_t version)>;

struct PreparerOptions {
  features::StatisticsOptions statistics;
  // Rows per stored feature-set chunk. Default 65536.
  int64_t chunk_rows = 65536;
  // Also write pushed rows to the online store's history (point-in-time
  // lookups), when they are compacted into a version: every pushed row,
  // against the latest only. Default false.
  bool push_history = false;
};

// Thread-safe.
class Preparer {
 public:
  static storage::Options StorageOptions();
  // `online` may be null (no online store); `split_parts` may be empty (no
  // fitting on split parts).
  Preparer(PreparerOptions options, storage::Store* store,
           events::EventLog* events, OnlineStore* online,
           DatasetReaderFactory readers, SplitPartRows split_parts = nullptr)
      : options_(std::move(options)),
        store_(store),
        events_(events),
        online_(online),
        readers_(std::move(readers)),
        split_parts_(std::move(split_parts)) {}

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

  // Per-column training/serving skew between two dataset versions
  // (services/prep/skew.h).
  absl::StatusOr<v1::CompareStatisticsResponse> CompareStatistics(
      const v1::CompareStatisticsRequest& request);

  // Fits the transforms and writes the feature set (and the online view when
  // the request names an entity key); emits features.ready. Idempotent: the
  // same request (same dataset version) returns the stored feature set.
  absl::StatusOr<v1::FeatureSet> Prepare(const v1::PrepareRequest& request,
                                         ops::Progress& progress);
  absl::StatusOr<v1::FeatureSet> GetFeatureSet(const std::string& id) const;
  absl::StatusOr<v1::FittedTransform> GetTransform(const std::string& id) const;
  // A feature set's rows: projection and row range. INVALID_ARGUMENT for an
  // unknown column or a bad range.
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& request) const;
  // Latest or point-in-time vectors of entity keys.
  absl::StatusOr<v1::GetOnlineFeaturesResponse> GetOnlineFeatures(
      const v1::GetOnlineFeaturesRequest& request) const;
  // Brings the online views of `dataset` up to `version`: applies their
  // transforms to the rows the new versions added. Called for each
  // dataset.ingested event.
  // `pushed_through`: the version's batch is pushed rows through that push
  // log position (the event says so): views that applied them as they were
  // pushed (ApplyPushed) only record the version.
  absl::Status RefreshOnline(const std::string& dataset, int64_t version,
                             int64_t pushed_through = 0);
  // Applies rows pushed to `dataset` (records in push log order, the
  // dataset's columns) to each of its online views, the records it has not
  // applied yet, through the view's fitted transform; each view records the
  // last position with the rows, in one write. Returns the rows written,
  // counted per view.
  absl::StatusOr<int64_t> ApplyPushed(const std::string& dataset,
                                      const v1::PushedRows& pushed);
  // Records in each online view the feature sets it serves, for views made
  // before views kept them (a Redis online store maps feature sets to
  // views by them).
  absl::Status LinkFeatureSets();
  // Materializes again, from their first version, the online views made
  // before stored values kept their rows' raw values (once: the view then
  // lists its raw columns). RefreshOnline does it too, for its dataset.
  absl::Status BackfillRawValues();

 private:
  // Adds the values of `dataset` version `version` to the columns `values`
  // holds (skew.cc).
  absl::Status ReadColumnValues(const std::string& dataset, int64_t version,
                                ColumnValues* values);
  // Prepare's phases, in order (feature_sets.cc). A PrepareJob is what the
  // call resolved before fitting: the request, the dataset version, the
  // feature set's id and the columns to read.
  struct PrepareJob;
  // Pass 1: fits the transforms (and the selection) to the training rows.
  absl::StatusOr<v1::FittedTransform> Fit(
      const PrepareJob& job, const std::vector<features::TransformSpec>& specs,
      DatasetReader& reader, ops::Progress& progress) const;
  // The online view of the feature set `fs` (named in it), or an unnamed view
  // when the request has no entity key.
  absl::StatusOr<v1::OnlineView> NewOnlineView(
      const PrepareJob& job, const v1::FittedTransform& fitted,
      v1::FeatureSet* fs) const;
  // Stores the fitted transform, then the view (when named) in the online
  // store.
  absl::Status StoreTransform(const v1::FittedTransform& fitted,
                              const v1::OnlineView& view);
  // Pass 2: applies the transform to every row and puts the chunks into
  // `batch` (writing it out as it grows); returns the rows written.
  absl::StatusOr<int64_t> WriteFeatures(
      const PrepareJob& job, const features::TransformApplier& applier,
      const v1::OnlineView& view, ops::Progress& progress,
      storage::WriteBatch* batch);
  // Commits `fs` with the rest of `batch` and the features.ready event.
  absl::Status RecordFeatureSet(const PrepareJob& job, const v1::FeatureSet& fs,
                                storage::WriteBatch batch, bool online);

  // `parts`: kHistory for a version whose rows were applied as pushed.
  absl::Status Materialize(v1::OnlineView view,
                           const v1::FittedTransform& fitted,
                           int64_t to_version,
                           UpsertParts parts = UpsertParts::kAll);

  // The rows of `tables` (pushed, in order; the same columns) that win
  // their key in `view`, transformed: what its latest values become.
  absl::StatusOr<std::vector<OnlineRow>> LatestRows(
      const v1::OnlineView& view,
      const std::vector<const table::Table*>& tables);
  // The appliers of the transforms ApplyPushed used (by transform id).
  absl::StatusOr<std::shared_ptr<const features::TransformApplier>> Applier(
      const std::string& transform_id);

  PreparerOptions options_;
  std::mutex appliers_mu_;
  std::map<std::string, std::shared_ptr<const features::TransformApplier>>
      appliers_;  // GUARDED_BY(appliers_mu_)
  storage::Store* const store_;
  events::EventLog* const events_;
  OnlineStore* const online_;
  DatasetReaderFactory readers_;
  SplitPartRows split_parts_;
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PREPARER_H_
