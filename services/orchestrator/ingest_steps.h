// Step types backed by the ingestion service:
//   ingest         {batch: ID} a batch uploaded by `mlpipe run`;
//                  {file: server:PATH} a file under the server's import root;
//                  or neither: the latest version of the dataset.
//                  Also: dataset (default spec.dataset), format, delimiter,
//                  no_header, null_values, uploaded_from (informational).
//   wait_for_data  {dataset, min_version, min_rows, poll_seconds}: waits
//                  until the dataset exists and has reached the version/rows.
// Both output the dataset version as an artifact ("dataset:<name>@v<N>").
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_INGEST_STEPS_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_INGEST_STEPS_H_

#include <functional>
#include <memory>

#include "grpcpp/channel.h"
#include "services/orchestrator/executor.h"

namespace mlpipe::orchestrator {

using ChannelProvider = std::function<std::shared_ptr<grpc::Channel>()>;

// `ingest` says where the ingestion service is; called at each attempt.
void RegisterIngestExecutors(ExecutorRegistry* registry,
                             ChannelProvider ingest);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_INGEST_STEPS_H_
