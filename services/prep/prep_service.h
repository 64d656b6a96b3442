// mlpipe.v1.Prep over gRPC: a thin adapter over Preparer.
#ifndef MLPIPE_SERVICES_PREP_PREP_SERVICE_H_
#define MLPIPE_SERVICES_PREP_PREP_SERVICE_H_

#include "common/rpc/off_thread.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "services/prep/preparer.h"

namespace mlpipe::prep {

class PrepService final : public v1::Prep::CallbackService {
 public:
  explicit PrepService(Preparer* preparer) : preparer_(preparer) {}

  grpc::ServerUnaryReactor* ComputeStatistics(
      grpc::CallbackServerContext* ctx,
      const v1::ComputeStatisticsRequest* request,
      v1::DatasetStatistics* response) override;
  grpc::ServerUnaryReactor* Validate(grpc::CallbackServerContext* ctx,
                                     const v1::ValidateRequest* request,
                                     v1::ValidationReport* response) override;

 private:
  Preparer* const preparer_;
  // Statistics read whole datasets: off the gRPC threads. Last member: waits
  // for its calls before the rest goes.
  rpc::OffThreadCalls calls_;
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PREP_SERVICE_H_
