// mlpipe.v1.Splits over gRPC: a thin adapter over Splitter.
#ifndef MLPIPE_SERVICES_SPLIT_SPLIT_SERVICE_H_
#define MLPIPE_SERVICES_SPLIT_SPLIT_SERVICE_H_

#include "mlpipe/v1/split_service.grpc.pb.h"
#include "services/split/splitter.h"

namespace mlpipe::split {

class SplitService final : public v1::Splits::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  // `ops` runs CreateSplit (kind "split"); both outlive the service.
  SplitService(Splitter* splitter, ops::OperationManager* ops)
      : splitter_(splitter), ops_(ops) {}

  grpc::ServerUnaryReactor* CreateSplit(Ctx* ctx, const v1::SplitSpec* req,
                                        v1::Operation* out) override;
  grpc::ServerUnaryReactor* GetSplit(Ctx* ctx, const v1::GetSplitRequest* req,
                                     v1::Split* out) override;
  grpc::ServerUnaryReactor* ListSplits(Ctx* ctx,
                                       const v1::ListSplitsRequest* req,
                                       v1::ListSplitsResponse* out) override;
  grpc::ServerWriteReactor<v1::Frame>* ReadSplit(
      Ctx* ctx, const v1::ReadSplitRequest* req) override;
  grpc::ServerWriteReactor<v1::SplitAssignments>* ReadAssignments(
      Ctx* ctx, const v1::ReadAssignmentsRequest* req) override;

 private:
  Splitter* const splitter_;
  ops::OperationManager* const ops_;
};

}  // namespace mlpipe::split

#endif  // MLPIPE_SERVICES_SPLIT_SPLIT_SERVICE_H_
