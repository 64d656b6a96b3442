#include "services/orchestrator/orchestrator_service.h"

#include <deque>
#include <mutex>

#include "common/rpc/status.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::orchestrator {
namespace {

template <typename T, typename Out>
grpc::ServerUnaryReactor* Reply(grpc::CallbackServerContext* ctx,
                                absl::StatusOr<T> v, Out* out) {
  if (v.ok()) *out = std::move(*v);
  return rpc::FinishUnary(ctx, v.status());
}

bool Ended(const v1::Run& r) {
  return r.state() == v1::Run::SUCCEEDED || r.state() == v1::Run::FAILED ||
         r.state() == v1::Run::CANCELLED;
}

// Sends the run, then its new state at every change, until it ends. Changes
// that arrive while a write is in flight are coalesced into the latest.
class WatchReactor final : public grpc::ServerWriteReactor<v1::Run> {
 public:
  WatchReactor(Orchestrator* orch, const std::string& id)
      : orch_(orch), id_(id) {
    listener_ = orch_->AddRunListener([this](const v1::Run& run) {
      if (run.id() != id_) return;
      std::lock_guard lock(mu_);
      Offer(run);
    });
    auto run = orch_->GetRun(id_);
    std::lock_guard lock(mu_);
    if (run.ok()) {
      Offer(*run);
    } else {
      FinishLocked(rpc::ToGrpcStatus(run.status()));
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok)
      return FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "watcher went away"));
    if (Ended(current_)) return FinishLocked(grpc::Status::OK);
    if (next_) {
      current_ = std::move(*next_);
      next_.reset();
      writing_ = true;
      StartWrite(&current_);
    }
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    orch_->RemoveRunListener(listener_);
    delete this;
  }

 private:
  // REQUIRES: mu_ held.
  void Offer(const v1::Run& run) {
    // The first snapshot (from GetRun) can race the listener: keep order.
    if (finished_ || sent_final_ || run.revision() <= last_revision_) return;
    last_revision_ = run.revision();
    sent_final_ = Ended(run);
    if (writing_) {
      next_ = run;
      return;
    }
    current_ = run;
    writing_ = true;
    StartWrite(&current_);
  }
  void FinishLocked(const grpc::Status& s) {
    if (finished_) return;
    finished_ = true;
    Finish(s);
  }

  Orchestrator* const orch_;
  const std::string id_;
  int listener_ = -1;
  std::mutex mu_;
  v1::Run current_;              // GUARDED_BY(mu_)
  std::optional<v1::Run> next_;  // GUARDED_BY(mu_)
  bool writing_ = false, finished_ = false,
       sent_final_ = false;     // GUARDED_BY(mu_)
  uint64_t last_revision_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace

grpc::ServerUnaryReactor* OrchestratorService::SubmitRun(
    Ctx* ctx, const v1::SubmitRunRequest* req, v1::Run* out) {
  return Reply(ctx, orch_->SubmitRun(*req), out);
}

grpc::ServerUnaryReactor* OrchestratorService::GetRun(
    Ctx* ctx, const v1::GetRunRequest* req, v1::Run* out) {
  return Reply(ctx, orch_->GetRun(req->id()), out);
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
  return new WatchReactor(orch_, req->id());
}

grpc::ServerUnaryReactor* OrchestratorService::CancelRun(
    Ctx* ctx, const v1::CancelRunRequest* req, v1::Run* out) {
  return Reply(ctx, orch_->CancelRun(req->id()), out);
}

grpc::ServerUnaryReactor* OrchestratorService::ResumeRun(
    Ctx* ctx, const v1::ResumeRunRequest* req, v1::Run* out) {
  return Reply(ctx, orch_->ResumeRun(req->id()), out);
}

grpc::ServerUnaryReactor* OrchestratorService::CreateSchedule(
    Ctx* ctx, const v1::CreateScheduleRequest* req,
    v1::CreateScheduleResponse* out) {
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
  return Reply(ctx, orch_->metadata()->GetLineage(req->id(), req->depth()),
               out);
}

grpc::ServerUnaryReactor* OrchestratorService::SetAlias(
    Ctx* ctx, const v1::SetAliasRequest* req, v1::AliasRecord* out) {
  return Reply(ctx, orch_->metadata()->SetAlias(*req), out);
}

grpc::ServerUnaryReactor* OrchestratorService::GetAlias(
    Ctx* ctx, const v1::GetAliasRequest* req, v1::AliasRecord* out) {
  absl::Time at = absl::InfiniteFuture();
  if (req->has_at()) {
    at = absl::FromUnixMicros(
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(req->at()));
  }
  return Reply(ctx, orch_->metadata()->GetAlias(req->alias(), at), out);
}

grpc::ServerUnaryReactor* OrchestratorService::ListAliases(
    Ctx* ctx, const v1::ListAliasesRequest*, v1::ListAliasesResponse* out) {
  auto all = orch_->metadata()->ListAliases();
  if (all.ok()) {
    for (auto& a : *all) *out->add_aliases() = std::move(a);
  }
  return rpc::FinishUnary(ctx, all.status());
}

grpc::ServerUnaryReactor* OrchestratorService::AliasHistory(
    Ctx* ctx, const v1::AliasHistoryRequest* req,
    v1::AliasHistoryResponse* out) {
  auto all = orch_->metadata()->AliasHistory(req->alias());
  if (all.ok()) {
    for (auto& a : *all) *out->add_records() = std::move(a);
  }
  return rpc::FinishUnary(ctx, all.status());
}

}  // namespace mlpipe::orchestrator
