// mlpipe.v1.Orchestrator over gRPC: a thin adapter over Orchestrator.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_

#include <functional>
#include <memory>

#include "grpcpp/channel.h"
#include "mlpipe/v1/orchestrator_service.grpc.pb.h"
#include "services/orchestrator/orchestrator.h"

namespace mlpipe::orchestrator {

class OrchestratorService final : public v1::Orchestrator::CallbackService {
 public:
  // `orchestrator` is not owned and must outlive the service; `score` the
  // scoring service (null: none), which serves an alias set on a model it
  // serves; `train` the training service, which has the models aliases
  // point to (null: not checked).
  using Channel = std::function<std::shared_ptr<grpc::Channel>()>;
  OrchestratorService(Orchestrator* orchestrator, Channel score,
                      Channel train = nullptr)
      : orch_(orchestrator),
        score_(std::move(score)),
        train_(std::move(train)) {}

  using Unary = grpc::ServerUnaryReactor;
  using Ctx = grpc::CallbackServerContext;
  Unary* SubmitRun(Ctx*, const v1::SubmitRunRequest*, v1::Run*) override;
  Unary* GetRun(Ctx*, const v1::GetRunRequest*, v1::Run*) override;
  Unary* ListRuns(Ctx*, const v1::ListRunsRequest*,
                  v1::ListRunsResponse*) override;
  grpc::ServerWriteReactor<v1::Run>* WatchRun(
      Ctx*, const v1::WatchRunRequest*) override;
  Unary* CancelRun(Ctx*, const v1::CancelRunRequest*, v1::Run*) override;
  Unary* ResumeRun(Ctx*, const v1::ResumeRunRequest*, v1::Run*) override;
  Unary* CreateSchedule(Ctx*, const v1::CreateScheduleRequest*,
                        v1::CreateScheduleResponse*) override;
  Unary* ListSchedules(Ctx*, const v1::ListSchedulesRequest*,
                       v1::ListSchedulesResponse*) override;
  Unary* DeleteSchedule(Ctx*, const v1::DeleteScheduleRequest*,
                        v1::DeleteScheduleResponse*) override;
  Unary* GetLineage(Ctx*, const v1::GetLineageRequest*,
                    v1::GetLineageResponse*) override;
  Unary* SetAlias(Ctx*, const v1::SetAliasRequest*, v1::AliasRecord*) override;
  Unary* GetAlias(Ctx*, const v1::GetAliasRequest*, v1::AliasRecord*) override;
  Unary* ListAliases(Ctx*, const v1::ListAliasesRequest*,
                     v1::ListAliasesResponse*) override;
  Unary* AliasHistory(Ctx*, const v1::AliasHistoryRequest*,
                      v1::AliasHistoryResponse*) override;

 private:
  // A person's alias change (scoring publishes its routes with the route):
  // on a model with a route, scoring's Deploy serves the version under the
  // alias (and records it here); otherwise it is recorded only.
  absl::StatusOr<v1::AliasRecord> SetAliasOf(const v1::SetAliasRequest& req);

  Orchestrator* const orch_;
  const Channel score_;
  const Channel train_;
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_
