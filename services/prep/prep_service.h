// mlpipe.v1.Prep over gRPC: a thin adapter over Preparer.
#ifndef MLPIPE_SERVICES_PREP_PREP_SERVICE_H_
#define MLPIPE_SERVICES_PREP_PREP_SERVICE_H_

#include "common/rpc/off_thread.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "services/prep/preparer.h"

namespace mlpipe::prep {

class PrepService final : public v1::Prep::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  // `ops` runs Prepare (kind "prepare"); both outlive the service.
  PrepService(Preparer* preparer, ops::OperationManager* ops)
      : preparer_(preparer), ops_(ops) {}

  grpc::ServerUnaryReactor* ComputeStatistics(
      grpc::CallbackServerContext* ctx,
      const v1::ComputeStatisticsRequest* request,
      v1::DatasetStatistics* response) override;
  grpc::ServerUnaryReactor* Validate(grpc::CallbackServerContext* ctx,
                                     const v1::ValidateRequest* request,
                                     v1::ValidationReport* response) override;
  grpc::ServerUnaryReactor* Prepare(Ctx* ctx, const v1::PrepareRequest* req,
                                    v1::Operation* out) override;
  grpc::ServerUnaryReactor* GetFeatureSet(Ctx* ctx,
                                          const v1::GetFeatureSetRequest* req,
                                          v1::FeatureSet* out) override;
  grpc::ServerWriteReactor<v1::Frame>* ReadFeatures(
      Ctx* ctx, const v1::ReadFeaturesRequest* req) override;
  grpc::ServerUnaryReactor* GetTransform(Ctx* ctx,
                                         const v1::GetTransformRequest* req,
                                         v1::FittedTransform* out) override;
  grpc::ServerUnaryReactor* GetOnlineFeatures(
      Ctx* ctx, const v1::GetOnlineFeaturesRequest* req,
      v1::GetOnlineFeaturesResponse* out) override;
  grpc::ServerUnaryReactor* CompareStatistics(
      Ctx* ctx, const v1::CompareStatisticsRequest* req,
      v1::CompareStatisticsResponse* out) override;

 private:
  Preparer* const preparer_;
  ops::OperationManager* const ops_;
  // Statistics read whole datasets: off the gRPC threads. Last member: waits
  // for its calls before the rest goes.
  rpc::OffThreadCalls calls_;
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PREP_SERVICE_H_
