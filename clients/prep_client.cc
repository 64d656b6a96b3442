#include "clients/prep_client.h"

#include <chrono>

#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"

namespace mlpipe::prep {

absl::StatusOr<v1::FeatureSet> GetFeatureSet(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& id) {
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::GetFeatureSetRequest req;
  req.set_id(id);
  v1::FeatureSet out;
  if (auto s = v1::Prep::NewStub(channel)->GetFeatureSet(&call, req, &out);
      !s.ok())
    return rpc::FromGrpcStatus(s);
  return out;
}

absl::StatusOr<v1::FittedTransform> GetTransform(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& id) {
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::GetTransformRequest req;
  req.set_id(id);
  v1::FittedTransform out;
  if (auto s = v1::Prep::NewStub(channel)->GetTransform(&call, req, &out);
      !s.ok())
    return rpc::FromGrpcStatus(s);
  return out;
}

std::unique_ptr<table::FrameReader> ReadFeatures(
    const std::shared_ptr<grpc::Channel>& channel,
    const v1::ReadFeaturesRequest& request) {
  std::shared_ptr<v1::Prep::Stub> stub = v1::Prep::NewStub(channel);
  return rpc::ReadFrameStream(
      [stub, request](grpc::ClientContext* call) {
        return stub->ReadFeatures(call, request);
      },
      stub);
}

absl::StatusOr<std::vector<std::optional<std::vector<double>>>>
GetOnlineFeatures(const std::shared_ptr<grpc::Channel>& channel,
                  const std::string& feature_set,
                  const std::vector<std::string>& keys,
                  const std::vector<std::string>& features) {
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::GetOnlineFeaturesRequest req;
  req.set_feature_set(feature_set);
  *req.mutable_keys() = {keys.begin(), keys.end()};
  *req.mutable_features() = {features.begin(), features.end()};
  v1::GetOnlineFeaturesResponse resp;
  if (auto s = v1::Prep::NewStub(channel)->GetOnlineFeatures(&call, req, &resp);
      !s.ok())
    return rpc::FromGrpcStatus(s);
  std::vector<std::optional<std::vector<double>>> out;
  for (const auto& v : resp.vectors()) {
    if (!v.found()) {
      out.emplace_back();
    } else {
      out.emplace_back(
          std::vector<double>(v.values().begin(), v.values().end()));
    }
  }
  return out;
}

}  // namespace mlpipe::prep
