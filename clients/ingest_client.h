// Client helpers for services that read datasets from the ingestion service.
#ifndef MLPIPE_CLIENTS_INGEST_CLIENT_H_
#define MLPIPE_CLIENTS_INGEST_CLIENT_H_

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/table/frame_reader.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/ingest_service.pb.h"

namespace mlpipe::ingest {

struct DatasetVersion {
  int64_t version = 0;  // Resolved: never 0.
  int64_t rows = 0;     // Rows of every batch up to this version.
  v1::GetDatasetResponse dataset;
};

// A dataset's version (0: the latest). NOT_FOUND naming the dataset and the
// latest version when there is no such version.
absl::StatusOr<DatasetVersion> GetDatasetVersion(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& dataset,
    int64_t version);

// A dataset's rows as a stream of frames (the call starts at the first
// Next).
std::unique_ptr<table::FrameReader> ReadBatches(
    const std::shared_ptr<grpc::Channel>& channel,
    v1::ReadBatchesRequest request);
// The rows of a dataset up to `version`, in order, with only `columns`.
std::unique_ptr<table::FrameReader> ReadVersion(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& dataset,
    int64_t version, const std::vector<std::string>& columns);

// The distinct values of `column` in a dataset's latest version, as text
// (numbers as the split names classes: table::AppendNumber); nullopt when
// there are more than `limit`.
absl::StatusOr<std::optional<std::set<std::string>>> DistinctValues(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& dataset,
    const std::string& column, size_t limit);

}  // namespace mlpipe::ingest

#endif  // MLPIPE_CLIENTS_INGEST_CLIENT_H_
