#include "services/monitor/monitor_service.h"

#include "absl/time/clock.h"
#include "clients/routes.h"
#include "common/rpc/auth.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"

namespace mlpipe::monitor {
namespace {

// Logs every batch as it arrives (durable once Log returns); answers with
// the number of records when the client closes its side.
class LogReactor final : public grpc::ServerReadReactor<v1::PredictionBatch> {
 public:
  LogReactor(Monitor* monitor, v1::LogPredictionsResponse* out)
      : monitor_(monitor), out_(out) {
    StartRead(&batch_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) {
      out_->set_records(records_);
      return Finish(grpc::Status::OK);
    }
    std::vector<v1::PredictionRecord> records(
        std::make_move_iterator(batch_.mutable_records()->begin()),
        std::make_move_iterator(batch_.mutable_records()->end()));
    for (size_t i = 0; i < records.size(); ++i) {
      if (records[i].model_version().empty()) {
        return Finish(rpc::ToGrpcStatus(absl::InvalidArgumentError(
            StrCat("records[", i, "].model_version: empty"))));
      }
    }
    if (auto s = monitor_->Log(records); !s.ok())
      return Finish(rpc::ToGrpcStatus(s));
    records_ += records.size();
    batch_.Clear();
    StartRead(&batch_);
  }
  void OnDone() override { delete this; }

 private:
  Monitor* const monitor_;
  v1::LogPredictionsResponse* const out_;
  v1::PredictionBatch batch_;
  uint64_t records_ = 0;
};

}  // namespace

grpc::ServerUnaryReactor* MonitorService::SetReference(
    Ctx* ctx, const v1::SetReferenceRequest* req, v1::Operation* out) {
  if (req->model_version().empty() && req->reference().model_version().empty())
    return rpc::FinishUnary(ctx,
                            absl::InvalidArgumentError("model_version: empty"));
  return rpc::FinishUnary(ctx, ops_->Start(kSetReferenceOperation, *req), out);
}

grpc::ServerUnaryReactor* MonitorService::GetReference(
    Ctx* ctx, const v1::GetReferenceRequest* req, v1::MonitorReference* out) {
  return rpc::FinishUnary(ctx, monitor_->Reference(req->model_version()), out);
}

grpc::ServerReadReactor<v1::PredictionBatch>* MonitorService::LogPredictions(
    Ctx* ctx, v1::LogPredictionsResponse* out) {
  return new LogReactor(monitor_, out);
}

grpc::ServerUnaryReactor* MonitorService::RecordActuals(
    Ctx* ctx, const v1::RecordActualsRequest* req, v1::ActualsResult* out) {
  std::vector<std::pair<std::string, google::protobuf::Value>> actuals;
  actuals.reserve(req->actuals_size());
  for (const auto& a : req->actuals())
    actuals.emplace_back(a.prediction_id(), a.value());
  return rpc::FinishUnary(ctx, monitor_->RecordActuals(actuals), out);
}

grpc::ServerUnaryReactor* MonitorService::GetReport(
    Ctx* ctx, const v1::GetReportRequest* req, v1::MonitorReport* out) {
  std::string version = req->model_version();
  if (version.empty())
    return rpc::FinishUnary(ctx,
                            absl::InvalidArgumentError("model_version: empty"));
  if (version.find(':') == std::string::npos) {
    auto newest = monitor_->NewestVersion(version);
    if (!newest.ok()) return rpc::FinishUnary(ctx, newest.status());
    version = *newest;
  }
  return rpc::FinishUnary(
      ctx,
      monitor_->Summary(version, req->windows() > 0 ? req->windows() : 24,
                        req->include_profiles()),
      out);
}

grpc::ServerUnaryReactor* MonitorService::SetPolicy(
    Ctx* ctx, const v1::SetPolicyRequest* req, v1::MonitorPolicy* out) {
  if (auto s = monitor_->SetPolicy(req->policy()); !s.ok())
    return rpc::FinishUnary(ctx, s);
  *out = req->policy();
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* MonitorService::GetPolicy(
    Ctx* ctx, const v1::GetPolicyRequest* req, v1::MonitorPolicy* out) {
  return rpc::FinishUnary(ctx, monitor_->Policy(req->model_version()), out);
}

grpc::ServerUnaryReactor* MonitorService::ListAlerts(
    Ctx* ctx, const v1::ListAlertsRequest* req, v1::ListAlertsResponse* out) {
  auto alerts = monitor_->Alerts(req->model_version(), req->kind(),
                                 req->limit() > 0 ? req->limit() : 50);
  if (!alerts.ok()) return rpc::FinishUnary(ctx, alerts.status());
  for (auto& a : *alerts) *out->add_alerts() = std::move(a);
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* MonitorService::StartRollout(
    Ctx* ctx, const v1::StartRolloutRequest* req, v1::Rollout* out) {
  auto attributed = rpc::WithAttribution(*ctx, *req);
  if (!attributed.ok()) return rpc::FinishUnary(ctx, attributed.status());
  auto r = driver_->Start(*attributed, absl::ToUnixMicros(absl::Now()));
  if (r.ok() && changed_) changed_();
  return rpc::FinishUnary(ctx, std::move(r), out);
}

absl::StatusOr<std::string> MonitorService::RolloutKey(
    const std::string& alias) const {
  auto key = score::AliasNames(rollouts_->Aliases(false), score::kDefaultAlias)
                 .Find(alias);
  if (absl::IsNotFound(key.status()))
    return absl::NotFoundError(StrCat("alias ", alias, ": no rollout"));
  return key;
}

grpc::ServerUnaryReactor* MonitorService::GetRollout(
    Ctx* ctx, const v1::RolloutRequest* req, v1::Rollout* out) {
  auto key = RolloutKey(req->alias());
  if (!key.ok()) return rpc::FinishUnary(ctx, key.status());
  return rpc::FinishUnary(ctx, rollouts_->Get(*key), out);
}

grpc::ServerUnaryReactor* MonitorService::ChangeRollout(
    Ctx* ctx, const v1::RolloutRequest* req, v1::Rollout* out,
    const std::function<absl::Status(const std::string& key,
                                     const std::string& by)>& change) {
  auto key = RolloutKey(req->alias());
  if (!key.ok()) return rpc::FinishUnary(ctx, key.status());
  auto attributed = rpc::WithAttribution(*ctx, *req);
  if (!attributed.ok()) return rpc::FinishUnary(ctx, attributed.status());
  if (auto s = change(*key, attributed->set_by()); !s.ok())
    return rpc::FinishUnary(ctx, s);
  if (changed_) changed_();
  return rpc::FinishUnary(ctx, rollouts_->Get(*key), out);
}

grpc::ServerUnaryReactor* MonitorService::PauseRollout(
    Ctx* ctx, const v1::RolloutRequest* req, v1::Rollout* out) {
  return ChangeRollout(
      ctx, req, out, [&](const std::string& key, const std::string& by) {
        return rollouts_->Pause(
            key,
            StrCat("paused by ", by, req->reason().empty() ? "" : ": ",
                   req->reason()),
            by);
      });
}

grpc::ServerUnaryReactor* MonitorService::ResumeRollout(
    Ctx* ctx, const v1::RolloutRequest* req, v1::Rollout* out) {
  return ChangeRollout(
      ctx, req, out, [&](const std::string& key, const std::string& by) {
        return rollouts_->Resume(key, absl::ToUnixMicros(absl::Now()), by);
      });
}

grpc::ServerUnaryReactor* MonitorService::AbortRollout(
    Ctx* ctx, const v1::RolloutRequest* req, v1::Rollout* out) {
  return ChangeRollout(
      ctx, req, out, [&](const std::string& key, const std::string& by) {
        return rollouts_->Abort(
            key,
            StrCat("aborted by ", by, req->reason().empty() ? "" : ": ",
                   req->reason()),
            by);
      });
}

}  // namespace mlpipe::monitor
