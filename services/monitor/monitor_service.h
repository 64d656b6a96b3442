// mlpipe.v1.Monitor over gRPC: a thin adapter over Monitor.
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_SERVICE_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_SERVICE_H_

#include "common/ops/operation_manager.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "services/monitor/monitor.h"

namespace mlpipe::monitor {

// The operation kind that builds and sets a reference
// (v1::SetReferenceRequest in, v1::MonitorReference out).
inline constexpr char kSetReferenceOperation[] = "set_reference";

class MonitorService final : public v1::Monitor::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  // Both outlive the service; `ops` runs kSetReferenceOperation.
  MonitorService(Monitor* monitor, ops::OperationManager* ops)
      : monitor_(monitor), ops_(ops) {}

  grpc::ServerUnaryReactor* SetReference(Ctx* ctx,
                                         const v1::SetReferenceRequest* req,
                                         v1::Operation* out) override;
  grpc::ServerUnaryReactor* GetReference(Ctx* ctx,
                                         const v1::GetReferenceRequest* req,
                                         v1::MonitorReference* out) override;
  grpc::ServerReadReactor<v1::PredictionBatch>* LogPredictions(
      Ctx* ctx, v1::LogPredictionsResponse* out) override;
  grpc::ServerUnaryReactor* RecordActuals(Ctx* ctx,
                                          const v1::RecordActualsRequest* req,
                                          v1::ActualsResult* out) override;
  grpc::ServerUnaryReactor* GetReport(Ctx* ctx, const v1::GetReportRequest* req,
                                      v1::MonitorReport* out) override;
  grpc::ServerUnaryReactor* SetPolicy(Ctx* ctx, const v1::SetPolicyRequest* req,
                                      v1::MonitorPolicy* out) override;
  grpc::ServerUnaryReactor* GetPolicy(Ctx* ctx, const v1::GetPolicyRequest* req,
                                      v1::MonitorPolicy* out) override;
  grpc::ServerUnaryReactor* ListAlerts(Ctx* ctx,
                                       const v1::ListAlertsRequest* req,
                                       v1::ListAlertsResponse* out) override;

 private:
  Monitor* const monitor_;
  ops::OperationManager* const ops_;
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_SERVICE_H_
