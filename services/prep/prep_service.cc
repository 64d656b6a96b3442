#include "services/prep/prep_service.h"

#include "clients/prepare_request.h"
#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"

namespace mlpipe::prep {

grpc::ServerUnaryReactor* PrepService::ComputeStatistics(
    grpc::CallbackServerContext* ctx,
    const v1::ComputeStatisticsRequest* request,
    v1::DatasetStatistics* response) {
  return calls_.Run(ctx, [this, request, response] {
    std::vector<std::string> columns(request->columns().begin(),
                                     request->columns().end());
    auto stats = preparer_->ComputeStatistics(request->dataset(),
                                              request->version(), columns);
    if (stats.ok()) *response = std::move(*stats);
    return stats.status();
  });
}

grpc::ServerUnaryReactor* PrepService::Validate(
    grpc::CallbackServerContext* ctx, const v1::ValidateRequest* request,
    v1::ValidationReport* response) {
  return calls_.Run(ctx, [this, request, response] {
    std::vector<std::string> fail_on(request->fail_on().begin(),
                                     request->fail_on().end());
    auto report = preparer_->Validate(
        request->dataset(), request->version(),
        request->has_schema() ? &request->schema() : nullptr, request->label(),
        fail_on);
    if (report.ok()) *response = std::move(*report);
    return report.status();
  });
}

grpc::ServerUnaryReactor* PrepService::Prepare(Ctx* ctx,
                                               const v1::PrepareRequest* req,
                                               v1::Operation* out) {
  if (auto s = CheckPrepareRequest(*req); !s.ok())
    return rpc::FinishUnary(ctx, s);
  return rpc::FinishUnary(ctx, ops_->Start("prepare", *req), out);
}

grpc::ServerUnaryReactor* PrepService::GetFeatureSet(
    Ctx* ctx, const v1::GetFeatureSetRequest* req, v1::FeatureSet* out) {
  return rpc::FinishUnary(ctx, preparer_->GetFeatureSet(req->id()), out);
}

grpc::ServerWriteReactor<v1::Frame>* PrepService::ReadFeatures(
    Ctx*, const v1::ReadFeaturesRequest* req) {
  return rpc::StreamFrames(
      [p = preparer_, req = *req] { return p->ReadFeatures(req); });
}

grpc::ServerUnaryReactor* PrepService::GetTransform(
    Ctx* ctx, const v1::GetTransformRequest* req, v1::FittedTransform* out) {
  return rpc::FinishUnary(ctx, preparer_->GetTransform(req->id()), out);
}

grpc::ServerUnaryReactor* PrepService::GetOnlineFeatures(
    Ctx* ctx, const v1::GetOnlineFeaturesRequest* req,
    v1::GetOnlineFeaturesResponse* out) {
  return rpc::FinishUnary(ctx, preparer_->GetOnlineFeatures(*req), out);
}

grpc::ServerUnaryReactor* PrepService::CompareStatistics(
    Ctx* ctx, const v1::CompareStatisticsRequest* req,
    v1::CompareStatisticsResponse* out) {
  return calls_.Run(ctx, [this, req, out] {
    auto r = preparer_->CompareStatistics(*req);
    if (r.ok()) *out = std::move(*r);
    return r.status();
  });
}

}  // namespace mlpipe::prep
