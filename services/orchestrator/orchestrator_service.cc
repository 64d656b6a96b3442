#include "services/orchestrator/orchestrator_service.h"

#include "absl/strings/str_cat.h"
#include "clients/routes.h"
#include "clients/score_client.h"
#include "clients/train_client.h"
#include "common/rpc/auth.h"
#include "common/rpc/status.h"
#include "common/rpc/watch_reactor.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::orchestrator {
namespace {

bool Ended(const v1::Run& r) {
  return r.state() == v1::Run::SUCCEEDED || r.state() == v1::Run::FAILED ||
         r.state() == v1::Run::CANCELLED;
}

// What a pipeline's steps have other services do with the orchestrator's
// identity, that the submitter must be allowed to call itself.
absl::Status SubmitterMayRun(const grpc::ServerContextBase& ctx,
                             const v1::PipelineSpec& spec) {
  for (const auto& step : spec.steps()) {
    const auto& params = step.params().fields();
    std::vector<const char*> methods;
    if (step.type() == "deploy") {
      methods.push_back("mlpipe.v1.Scoring/Deploy");
      if (params.contains("monitor"))
        methods.push_back("mlpipe.v1.Monitor/SetPolicy");
      if (params.contains("canary"))
        methods.push_back("mlpipe.v1.Monitor/StartRollout");
    } else if (step.type() == "ingest") {
      auto file = params.find("file");
      if (file != params.end() &&
          file->second.string_value().starts_with("server:"))
        methods.push_back("mlpipe.v1.Ingestion/IngestFile");
    }
    for (const char* m : methods) {
      auto s = rpc::CallerMayCall(ctx, m, absl::StrCat("steps.", step.name()));
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* OrchestratorService::SubmitRun(
    Ctx* ctx, const v1::SubmitRunRequest* req, v1::Run* out) {
  if (auto s = SubmitterMayRun(*ctx, req->spec()); !s.ok())
    return rpc::FinishUnary(ctx, s);
  // Who asked: "user:<principal>" under a policy.
  auto by = rpc::AttributionOf(*ctx, "");
  if (!by.ok()) return rpc::FinishUnary(ctx, by.status());
  return rpc::FinishUnary(
      ctx, orch_->SubmitRun(*req, by->empty() ? "manual" : *by), out);
}

grpc::ServerUnaryReactor* OrchestratorService::GetRun(
    Ctx* ctx, const v1::GetRunRequest* req, v1::Run* out) {
  return rpc::FinishUnary(ctx, orch_->GetRun(req->id()), out);
}

grpc::ServerUnaryReactor* OrchestratorService::ListRuns(
    Ctx* ctx, const v1::ListRunsRequest* req, v1::ListRunsResponse* out) {
  auto runs = orch_->ListRuns(req->pipeline(), req->limit());
  if (runs.ok()) {
    for (auto& r : *runs) *out->add_runs() = std::move(r);
  }
  return rpc::FinishUnary(ctx, runs.status());
}

grpc::ServerWriteReactor<v1::Run>* OrchestratorService::WatchRun(
    Ctx*, const v1::WatchRunRequest* req) {
  std::string id = req->id();
  Orchestrator* orch = orch_;
  return new rpc::WatchReactor<v1::Run>({
      .add_listener =
          [orch, id](std::function<void(const v1::Run&)> fn) {
            return orch->AddRunListener([id, fn](const v1::Run& run) {
              if (run.id() == id) fn(run);
            });
          },
      .remove_listener = [orch](int h) { orch->RemoveRunListener(h); },
      .get = [orch, id] { return orch->GetRun(id); },
      .ended = Ended,
  });
}

grpc::ServerUnaryReactor* OrchestratorService::CancelRun(
    Ctx* ctx, const v1::CancelRunRequest* req, v1::Run* out) {
  return rpc::FinishUnary(ctx, orch_->CancelRun(req->id()), out);
}

grpc::ServerUnaryReactor* OrchestratorService::ResumeRun(
    Ctx* ctx, const v1::ResumeRunRequest* req, v1::Run* out) {
  auto run = orch_->GetRun(req->id());
  if (run.ok()) {
    if (auto s = SubmitterMayRun(*ctx, run->spec()); !s.ok())
      return rpc::FinishUnary(ctx, s);
  }
  return rpc::FinishUnary(ctx, orch_->ResumeRun(req->id()), out);
}

grpc::ServerUnaryReactor* OrchestratorService::CreateSchedule(
    Ctx* ctx, const v1::CreateScheduleRequest* req,
    v1::CreateScheduleResponse* out) {
  if (auto s = SubmitterMayRun(*ctx, req->spec()); !s.ok())
    return rpc::FinishUnary(ctx, s);
  auto created = orch_->CreateSchedules(req->spec());
  if (created.ok()) {
    for (auto& s : *created) *out->add_schedules() = std::move(s);
  }
  return rpc::FinishUnary(ctx, created.status());
}

grpc::ServerUnaryReactor* OrchestratorService::ListSchedules(
    Ctx* ctx, const v1::ListSchedulesRequest*, v1::ListSchedulesResponse* out) {
  auto all = orch_->ListSchedules();
  if (all.ok()) {
    for (auto& s : *all) *out->add_schedules() = std::move(s);
  }
  return rpc::FinishUnary(ctx, all.status());
}

grpc::ServerUnaryReactor* OrchestratorService::DeleteSchedule(
    Ctx* ctx, const v1::DeleteScheduleRequest* req,
    v1::DeleteScheduleResponse*) {
  return rpc::FinishUnary(ctx, orch_->DeleteSchedule(req->id()));
}

grpc::ServerUnaryReactor* OrchestratorService::GetLineage(
    Ctx* ctx, const v1::GetLineageRequest* req, v1::GetLineageResponse* out) {
  return rpc::FinishUnary(
      ctx, orch_->metadata()->GetLineage(req->id(), req->depth()), out);
}

absl::StatusOr<v1::AliasRecord> OrchestratorService::SetAliasOf(
    const v1::SetAliasRequest& req) {
  if (!req.has_route() && train_ && !req.model_version().empty()) {
    // An alias points to a model version that exists.
    auto model = train::GetModel(train_(), req.model_version(), true);
    if (!model.ok() && !absl::IsUnimplemented(model.status()))
      return model.status();
    if (model.ok() && model->id() != req.model_version()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model_version: name a version (", model->id(), "), not a model"));
    }
  }
  if (req.has_route() || !score_ || req.model_version().empty())
    return orch_->registry()->SetAlias(req);
  // Served: some route of the model, as the scoring replicas published
  // them here.
  auto aliases = orch_->registry()->ListAliases();
  if (!aliases.ok()) return aliases.status();
  const std::string model = score::ModelNameOf(req.model_version());
  bool served = false;
  for (const auto& a : *aliases) {
    served |= score::ModelPart(a.alias()) == model && a.has_route() &&
              !a.route().targets().empty();
  }
  if (!served) return orch_->registry()->SetAlias(req);
  v1::DeployRequest deploy;
  deploy.set_model_version(req.model_version());
  deploy.set_alias(req.alias());
  deploy.set_set_by(req.set_by());
  auto done = score::Deploy(score_(), deploy);
  if (!done.ok()) return done.status();
  return orch_->registry()->GetAlias(done->route().alias(),
                                     absl::InfiniteFuture());
}

grpc::ServerUnaryReactor* OrchestratorService::SetAlias(
    Ctx* ctx, const v1::SetAliasRequest* req, v1::AliasRecord* out) {
  auto attributed = rpc::WithAttribution(*ctx, *req);
  if (!attributed.ok()) return rpc::FinishUnary(ctx, attributed.status());
  return rpc::FinishUnary(ctx, SetAliasOf(*attributed), out);
}

grpc::ServerUnaryReactor* OrchestratorService::GetAlias(
    Ctx* ctx, const v1::GetAliasRequest* req, v1::AliasRecord* out) {
  absl::Time at = absl::InfiniteFuture();
  if (req->has_at()) {
    at = absl::FromUnixMicros(
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(req->at()));
  }
  return rpc::FinishUnary(ctx, orch_->registry()->GetAlias(req->alias(), at),
                          out);
}

grpc::ServerUnaryReactor* OrchestratorService::ListAliases(
    Ctx* ctx, const v1::ListAliasesRequest*, v1::ListAliasesResponse* out) {
  auto all = orch_->registry()->ListAliases();
  if (all.ok()) {
    for (auto& a : *all) *out->add_aliases() = std::move(a);
  }
  return rpc::FinishUnary(ctx, all.status());
}

grpc::ServerUnaryReactor* OrchestratorService::AliasHistory(
    Ctx* ctx, const v1::AliasHistoryRequest* req,
    v1::AliasHistoryResponse* out) {
  auto all = orch_->registry()->AliasHistory(req->alias());
  if (all.ok()) {
    for (auto& a : *all) *out->add_records() = std::move(a);
  }
  return rpc::FinishUnary(ctx, all.status());
}

}  // namespace mlpipe::orchestrator
