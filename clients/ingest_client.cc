#include "clients/ingest_client.h"

#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"

namespace mlpipe::ingest {

absl::StatusOr<DatasetVersion> GetDatasetVersion(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& dataset,
    int64_t version) {
  auto stub = v1::Ingestion::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::GetDatasetRequest req;
  req.set_name(dataset);
  DatasetVersion out;
  if (auto s = stub->GetDataset(&call, req, &out.dataset); !s.ok())
    return rpc::FromGrpcStatus(s);
  int64_t latest = out.dataset.dataset().versions_size();
  if (version < 0 || version > latest) {
    return absl::NotFoundError(StrCat("dataset '", dataset, "' has no version ",
                                      version, " (latest is ", latest, ")"));
  }
  out.version = version == 0 ? latest : version;
  for (const auto& v : out.dataset.dataset().versions())
    if (v.version() == out.version) out.rows = v.row_count();
  return out;
}

std::unique_ptr<table::FrameReader> ReadBatches(
    const std::shared_ptr<grpc::Channel>& channel,
    v1::ReadBatchesRequest request) {
  std::shared_ptr<v1::Ingestion::Stub> stub = v1::Ingestion::NewStub(channel);
  return rpc::ReadFrameStream(
      [stub, req = std::move(request)](grpc::ClientContext* call) {
        return stub->ReadBatches(call, req);
      },
      stub);
}

std::unique_ptr<table::FrameReader> ReadVersion(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& dataset,
    int64_t version, const std::vector<std::string>& columns) {
  v1::ReadBatchesRequest req;
  req.set_dataset(dataset);
  req.set_up_to_version(version);
  *req.mutable_columns() = {columns.begin(), columns.end()};
  return ReadBatches(channel, std::move(req));
}

}  // namespace mlpipe::ingest
