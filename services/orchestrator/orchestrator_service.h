// mlpipe.v1.Orchestrator over gRPC: a thin adapter over Orchestrator.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_

#include "mlpipe/v1/orchestrator_service.grpc.pb.h"
#include "services/orchestrator/orchestrator.h"

namespace mlpipe::orchestrator {

class OrchestratorService final : public v1::Orchestrator::CallbackService {
 public:
  // Not owned; must outlive the service.
  explicit OrchestratorService(Orchestrator* orchestrator)
      : orch_(orchestrator) {}

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
  Orchestrator* const orch_;
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_SERVICE_H_
