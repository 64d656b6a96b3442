// The split domain (no gRPC): creates splits (reads the columns a strategy
// needs, assigns rows, stores one byte per row), answers GetSplit and
// ListSplits, and streams one part of a feature set through a split.
//
// Column families: splits (id -> v1::Split), assignments ("<id>/<chunk
// index, 10 digits>" -> v1::SplitAssignments), operations, events.
#ifndef MLPIPE_SERVICES_SPLIT_SPLITTER_H_
#define MLPIPE_SERVICES_SPLIT_SPLITTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/ops/operation_manager.h"
#include "common/storage/store.h"
#include "common/table/frame_reader.h"
#include "mlpipe/v1/split_service.pb.h"

namespace mlpipe::v1 {
class FeatureSet;           // mlpipe/v1/prep_service.pb.h
class ReadFeaturesRequest;  // mlpipe/v1/prep_service.pb.h
}  // namespace mlpipe::v1

namespace mlpipe::split {

// Where a split reads rows from (prep and ingest, over gRPC in the service).
class SplitData {
 public:
  virtual ~SplitData() = default;
  virtual absl::StatusOr<v1::FeatureSet> GetFeatureSet(
      const std::string& id) = 0;
  // The version (0: the latest, resolved) and how many rows it has.
  struct Version {
    int64_t version = 0;
    int64_t rows = 0;
    std::vector<std::string> columns;  // The dataset's columns.
    int64_t duplicate_rows = 0;        // Rows repeating an earlier row.
  };
  virtual absl::StatusOr<Version> GetDatasetVersion(const std::string& dataset,
                                                    int64_t version) = 0;
  virtual absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& request) = 0;
  // Rows of every batch up to `version`, the given columns.
  virtual absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns) = 0;
};

// A split's parts and folds, one byte per row.
struct RowAssignments {
  std::vector<uint8_t> parts;
  std::vector<uint8_t> folds;  // Empty without folds.
};

struct SplitterOptions {
  // Rows per stored assignment chunk. Default 1 << 20.
  int64_t chunk_rows = 1 << 20;
};

// Thread-safe.
class Splitter {
 public:
  static storage::Options StorageOptions();
  Splitter(SplitterOptions options, storage::Store* store,
           events::EventLog* events, SplitData* data)
      : options_(options), store_(store), events_(events), data_(data) {}

  // Assigns every row, stores the split and emits split.ready. The same
  // spec (with the version resolved) returns the stored split.
  absl::StatusOr<v1::Split> Create(const v1::SplitSpec& spec,
                                   ops::Progress& progress);
  absl::StatusOr<v1::Split> Get(const std::string& id) const;
  // Newest first.
  absl::StatusOr<std::vector<v1::Split>> List(const std::string& dataset) const;
  absl::StatusOr<RowAssignments> LoadAssignments(const v1::Split& split) const;
  // One part (or fold) of a feature set: projection, labels.
  absl::StatusOr<std::unique_ptr<table::FrameReader>> Read(
      const v1::ReadSplitRequest& request) const;
  // The stored assignment chunks, in row order.
  absl::StatusOr<std::vector<v1::SplitAssignments>> Assignments(
      const std::string& id) const;

 private:
  const SplitterOptions options_;
  storage::Store* const store_;
  events::EventLog* const events_;
  SplitData* const data_;
};

}  // namespace mlpipe::split

#endif  // MLPIPE_SERVICES_SPLIT_SPLITTER_H_
