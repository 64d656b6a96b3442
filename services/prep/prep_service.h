// mlpipe.v1.Prep over gRPC: a thin adapter over Preparer.
#ifndef MLPIPE_SERVICES_PREP_PREP_SERVICE_H_
#define MLPIPE_SERVICES_PREP_PREP_SERVICE_H_

#include <condition_variable>
#include <functional>
#include <mutex>

#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "services/prep/preparer.h"

namespace mlpipe::prep {

class PrepService final : public v1::Prep::CallbackService {
 public:
  explicit PrepService(Preparer* preparer) : preparer_(preparer) {}
  // Waits for calls still computing.
  ~PrepService() override;

  grpc::ServerUnaryReactor* ComputeStatistics(
      grpc::CallbackServerContext* ctx,
      const v1::ComputeStatisticsRequest* request,
      v1::DatasetStatistics* response) override;
  grpc::ServerUnaryReactor* Validate(grpc::CallbackServerContext* ctx,
                                     const v1::ValidateRequest* request,
                                     v1::ValidationReport* response) override;

 private:
  // Runs `work` (which reads whole datasets) off the gRPC threads and
  // finishes the call with its status.
  grpc::ServerUnaryReactor* RunAside(grpc::CallbackServerContext* ctx,
                                     std::function<absl::Status()> work);

  Preparer* const preparer_;
  std::mutex mu_;
  std::condition_variable idle_;
  int running_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PREP_SERVICE_H_
