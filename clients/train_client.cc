#include "clients/train_client.h"

#include <chrono>

#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/train_service.grpc.pb.h"

namespace mlpipe::train {

absl::StatusOr<v1::ModelArtifact> GetModel(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& id,
    bool summary) {
  auto stub = v1::Training::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(60));
  v1::GetModelRequest req;
  req.set_id(id);
  req.set_summary(summary);
  v1::ModelArtifact out;
  if (auto s = stub->GetModel(&call, req, &out); !s.ok())
    return rpc::FromGrpcStatus(s);
  return out;
}

}  // namespace mlpipe::train
