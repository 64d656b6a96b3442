// The ingest step's parameters as the header of its upload: one mapping for
// the orchestrator (a server-side file) and the CLI (a client-side file it
// uploads before submitting). gRPC-free.
#ifndef MLPIPE_CLIENTS_INGEST_REQUEST_H_
#define MLPIPE_CLIENTS_INGEST_REQUEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/ingest_service.pb.h"

namespace mlpipe::ingest {

// `params` (an `ingest` step's) as an upload header: every IngestHeader
// field under its proto name (format in any case: csv, jsonl), besides the
// step's own file / batch / uploaded_from / dataset_version; the dataset
// defaults to `default_dataset`, the mode to REPLACE for a `file:` (the
// file is the data set) and APPEND otherwise. The idempotency key and
// source are the caller's.
// INVALID_ARGUMENT naming "<path>.<key>".
absl::StatusOr<v1::IngestHeader> IngestHeaderFromParams(
    const google::protobuf::Struct& params, const std::string& default_dataset,
    const std::string& path);

}  // namespace mlpipe::ingest

#endif  // MLPIPE_CLIENTS_INGEST_REQUEST_H_
