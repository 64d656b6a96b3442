#include "clients/score_client.h"

#include <chrono>

#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/score_service.grpc.pb.h"

namespace mlpipe::score {
namespace {

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

}  // namespace

absl::StatusOr<v1::ListDeploymentsResponse> ListDeployments(
    const std::shared_ptr<grpc::Channel>& channel) {
  grpc::ClientContext call;
  call.set_deadline(In(30));
  v1::ListDeploymentsResponse out;
  if (auto s = v1::Scoring::NewStub(channel)->ListDeployments(&call, {}, &out);
      !s.ok())
    return rpc::FromGrpcStatus(s);
  return out;
}

absl::StatusOr<v1::DeployResponse> Deploy(
    const std::shared_ptr<grpc::Channel>& channel,
    const v1::DeployRequest& request) {
  grpc::ClientContext call;
  call.set_deadline(In(300));
  v1::DeployResponse out;
  if (auto s = v1::Scoring::NewStub(channel)->Deploy(&call, request, &out);
      !s.ok())
    return rpc::FromGrpcStatus(s);
  return out;
}

absl::StatusOr<v1::Route> Rollback(
    const std::shared_ptr<grpc::Channel>& channel,
    const v1::RollbackRequest& request) {
  grpc::ClientContext call;
  call.set_deadline(In(60));
  v1::Route out;
  if (auto s = v1::Scoring::NewStub(channel)->Rollback(&call, request, &out);
      !s.ok())
    return rpc::FromGrpcStatus(s);
  return out;
}

}  // namespace mlpipe::score
