// mlpipe.v1.Operations: the gRPC adapter over the OperationManagers of the
// services in one process, chosen by the id's service prefix.
#ifndef MLPIPE_COMMON_OPS_OPERATIONS_SERVICE_H_
#define MLPIPE_COMMON_OPS_OPERATIONS_SERVICE_H_

#include <map>
#include <string>

#include "common/ops/operation_manager.h"
#include "mlpipe/v1/operations_service.grpc.pb.h"

namespace mlpipe::ops {

class OperationsService final : public v1::Operations::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  // Managers are not owned and must outlive the service.
  void AddManager(OperationManager* m) { managers_[m->service()] = m; }
  bool empty() const { return managers_.empty(); }

  grpc::ServerUnaryReactor* GetOperation(Ctx* ctx,
                                         const v1::GetOperationRequest* req,
                                         v1::Operation* out) override;
  grpc::ServerWriteReactor<v1::Operation>* WatchOperation(
      Ctx* ctx, const v1::GetOperationRequest* req) override;
  grpc::ServerUnaryReactor* ListOperations(
      Ctx* ctx, const v1::ListOperationsRequest* req,
      v1::ListOperationsResponse* out) override;
  grpc::ServerUnaryReactor* CancelOperation(
      Ctx* ctx, const v1::CancelOperationRequest* req,
      v1::Operation* out) override;

 private:
  // The manager owning `id`; NOT_FOUND when none does.
  absl::StatusOr<OperationManager*> Owner(const std::string& id) const;
  std::map<std::string, OperationManager*> managers_;
};

}  // namespace mlpipe::ops

#endif  // MLPIPE_COMMON_OPS_OPERATIONS_SERVICE_H_
