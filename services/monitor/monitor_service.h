// mlpipe.v1.Monitor over gRPC: a thin adapter over Monitor.
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_SERVICE_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_SERVICE_H_

#include "common/ops/operation_manager.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "services/monitor/monitor.h"
#include "services/monitor/rollout_driver.h"

namespace mlpipe::monitor {

// The operation kind that builds and sets a reference
// (v1::SetReferenceRequest in, v1::MonitorReference out).
inline constexpr char kSetReferenceOperation[] = "set_reference";

class MonitorService final : public v1::Monitor::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  // All outlive the service; `ops` runs kSetReferenceOperation; `changed`
  // is called after a rollout starts or changes by hand (to act on it now).
  MonitorService(Monitor* monitor, ops::OperationManager* ops,
                 Rollouts* rollouts, RolloutDriver* driver,
                 std::function<void()> changed)
      : monitor_(monitor),
        ops_(ops),
        rollouts_(rollouts),
        driver_(driver),
        changed_(std::move(changed)) {}

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
  grpc::ServerUnaryReactor* StartRollout(Ctx* ctx,
                                         const v1::StartRolloutRequest* req,
                                         v1::Rollout* out) override;
  grpc::ServerUnaryReactor* GetRollout(Ctx* ctx, const v1::RolloutRequest* req,
                                       v1::Rollout* out) override;
  grpc::ServerUnaryReactor* PauseRollout(Ctx* ctx,
                                         const v1::RolloutRequest* req,
                                         v1::Rollout* out) override;
  grpc::ServerUnaryReactor* ResumeRollout(Ctx* ctx,
                                          const v1::RolloutRequest* req,
                                          v1::Rollout* out) override;
  grpc::ServerUnaryReactor* AbortRollout(Ctx* ctx,
                                         const v1::RolloutRequest* req,
                                         v1::Rollout* out) override;

 private:
  // A rollout changed by `change` (on its alias's key, by the caller), then
  // as it is.
  grpc::ServerUnaryReactor* ChangeRollout(
      Ctx* ctx, const v1::RolloutRequest* req, v1::Rollout* out,
      const std::function<absl::Status(const std::string& key,
                                       const std::string& by)>& change);
  // The key of the rollout `alias` names ("credit@production", "credit",
  // or a bare alias that one rollout has). NOT_FOUND, INVALID_ARGUMENT.
  absl::StatusOr<std::string> RolloutKey(const std::string& alias) const;

  Monitor* const monitor_;
  ops::OperationManager* const ops_;
  Rollouts* const rollouts_;
  RolloutDriver* const driver_;
  const std::function<void()> changed_;
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_SERVICE_H_
