#include "clients/split_client.h"

#include <chrono>

#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/split_service.grpc.pb.h"

namespace mlpipe::split {

absl::StatusOr<v1::Split> GetSplit(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& id) {
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::GetSplitRequest req;
  req.set_id(id);
  v1::Split out;
  if (auto s = v1::Splits::NewStub(channel)->GetSplit(&call, req, &out);
      !s.ok())
    return rpc::FromGrpcStatus(s);
  return out;
}

absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& split) {
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(300));
  v1::ReadAssignmentsRequest req;
  req.set_split(split);
  auto reader = v1::Splits::NewStub(channel)->ReadAssignments(&call, req);
  std::vector<v1::SplitAssignments> out;
  v1::SplitAssignments chunk;
  while (reader->Read(&chunk)) out.push_back(std::move(chunk));
  if (auto s = reader->Finish(); !s.ok()) return rpc::FromGrpcStatus(s);
  return out;
}

}  // namespace mlpipe::split
