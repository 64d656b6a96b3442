#include "services/score/scoring_service.h"

#include <cmath>

#include "common/rpc/auth.h"
#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"

namespace mlpipe::score {

absl::Status RowsFromRequest(const v1::PredictRequest& request,
                             std::vector<serving::RawRow>* rows) {
  using google::protobuf::Value;
  rows->resize(request.rows_size());
  for (int r = 0; r < request.rows_size(); ++r) {
    serving::RawRow& row = (*rows)[r];
    for (const auto& [name, v] : request.rows(r).fields()) {
      switch (v.kind_case()) {
        case Value::kNumberValue:
          // JSON has no NaN or infinity; binary requests can: refused, as
          // the README says (a missing value is null).
          if (!std::isfinite(v.number_value())) {
            return absl::InvalidArgumentError(
                StrCat("rows[", r, "].", name, ": ", v.number_value(),
                       " is not a finite number (a missing value is null)"));
          }
          row.emplace(name, v.number_value());
          break;
        case Value::kStringValue:
          row.emplace(name, v.string_value());
          break;
        case Value::kNullValue:
        case Value::KIND_NOT_SET:
          row.emplace(name, std::monostate());
          break;
        default:
          return absl::InvalidArgumentError(
              StrCat("rows[", r, "].", name,
                     ": expected a number, a string or null, got a ",
                     v.kind_case() == Value::kBoolValue   ? "bool"
                     : v.kind_case() == Value::kListValue ? "list"
                                                          : "struct"));
      }
    }
  }
  return absl::OkStatus();
}

void FillResponse(const PredictOutput& out, v1::PredictResponse* response) {
  const serving::Servable& s = *out.servable;
  response->set_model_version(s.version());
  response->set_alias(out.alias);
  response->set_task(s.summary().task());
  *response->mutable_classes() = s.summary().classes();
  response->set_fallback(out.fallback);
  const int w = s.width();
  for (size_t i = 0; i < out.rows(); ++i) {
    v1::Prediction* p = response->add_predictions();
    p->set_prediction_id(out.ids[i]);
    s.Fill(out.scores.data() + i * w, p);
  }
}

grpc::ServerUnaryReactor* ScoringService::Predict(Ctx* ctx,
                                                  const v1::PredictRequest* req,
                                                  v1::PredictResponse* out) {
  const absl::Time arrived = absl::Now();
  return rpc::RunAdmitted(
      ctx,
      [this, req](auto work, auto reply) {
        // Entity keys wait for the online store: never small, however few.
        return predictor_->Submit(
            std::move(work), std::move(reply),
            req->entity_keys().empty() &&
                predictor_->InlineRows(static_cast<size_t>(req->rows_size())));
      },
      [this, req, out, arrived](rpc::Done done) {
        PredictInput in;
        in.arrived = arrived;
        in.model = req->model();
        in.routing_key = req->routing_key();
        in.ignore_extra = req->ignore_extra_fields();
        in.entity_keys.assign(req->entity_keys().begin(),
                              req->entity_keys().end());
        if (auto s = RowsFromRequest(*req, &in.rows); !s.ok()) return done(s);
        auto result = predictor_->Score(in);
        if (!result.ok()) return done(result.status());
        FillResponse(*result, out);
        // Answered once its log records are durable.
        predictor_->Commit(*result, [done] { done(absl::OkStatus()); });
      });
}

grpc::ServerUnaryReactor* ScoringService::Deploy(Ctx* ctx,
                                                 const v1::DeployRequest* req,
                                                 v1::DeployResponse* out) {
  auto attributed = rpc::WithAttribution(*ctx, *req);
  if (!attributed.ok()) return rpc::FinishUnary(ctx, attributed.status());
  return off_thread_.Run(ctx, [this, req = *std::move(attributed), out] {
    auto r = deployments_->Deploy(req);
    if (r.ok()) *out = std::move(*r);
    return r.status();
  });
}

grpc::ServerUnaryReactor* ScoringService::Undeploy(
    Ctx* ctx, const v1::UndeployRequest* req,
    v1::ListDeploymentsResponse* out) {
  auto attributed = rpc::WithAttribution(*ctx, *req);
  if (!attributed.ok()) return rpc::FinishUnary(ctx, attributed.status());
  return off_thread_.Run(ctx, [this, req = *std::move(attributed), out] {
    auto r = deployments_->Undeploy(req);
    if (r.ok()) *out = std::move(*r);
    return r.status();
  });
}

grpc::ServerUnaryReactor* ScoringService::Rollback(
    Ctx* ctx, const v1::RollbackRequest* req, v1::Route* out) {
  auto attributed = rpc::WithAttribution(*ctx, *req);
  if (!attributed.ok()) return rpc::FinishUnary(ctx, attributed.status());
  return off_thread_.Run(ctx, [this, req = *std::move(attributed), out] {
    auto r = deployments_->Rollback(req);
    if (r.ok()) *out = std::move(*r);
    return r.status();
  });
}

grpc::ServerUnaryReactor* ScoringService::ListDeployments(
    Ctx* ctx, const v1::ListDeploymentsRequest*,
    v1::ListDeploymentsResponse* out) {
  *out = deployments_->List();
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* ScoringService::RouteHistory(
    Ctx* ctx, const v1::RouteHistoryRequest* req,
    v1::RouteHistoryResponse* out) {
  auto h = deployments_->History(req->alias());
  if (!h.ok()) return rpc::FinishUnary(ctx, h.status());
  for (auto& r : *h) *out->add_routes() = std::move(r);
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* ScoringService::StartBatchScoring(
    Ctx* ctx, const v1::StartBatchScoringRequest* req, v1::Operation* out) {
  if (auto s = batch_->Check(*req); !s.ok()) return rpc::FinishUnary(ctx, s);
  return rpc::FinishUnary(ctx, ops_->Start("batch_score", *req), out);
}

grpc::ServerUnaryReactor* ScoringService::GetBatchScoring(
    Ctx* ctx, const v1::GetBatchScoringRequest* req, v1::BatchScoring* out) {
  return rpc::FinishUnary(ctx, batch_->Get(req->id()), out);
}

grpc::ServerUnaryReactor* ScoringService::ListBatchScorings(
    Ctx* ctx, const v1::ListBatchScoringsRequest* req,
    v1::ListBatchScoringsResponse* out) {
  auto list = batch_->List(req->limit() > 0 ? req->limit() : 50);
  if (!list.ok()) return rpc::FinishUnary(ctx, list.status());
  for (auto& j : *list) *out->add_jobs() = std::move(j);
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerWriteReactor<v1::Frame>* ScoringService::ReadBatchScores(
    Ctx*, const v1::ReadBatchScoresRequest* req) {
  return rpc::StreamFrames(
      [b = batch_, id = req->id()] { return b->Read(id); });
}

}  // namespace mlpipe::score
