#include "services/evaluate/evaluate_service.h"

#include "common/rpc/status.h"

namespace mlpipe::evaluate {

grpc::ServerUnaryReactor* EvaluateService::Evaluate(
    Ctx* ctx, const v1::EvaluateRequest* req, v1::Operation* out) {
  if (auto s = evaluator_->Check(*req); !s.ok())
    return rpc::FinishUnary(ctx, s);
  return rpc::FinishUnary(ctx, ops_->Start("evaluate", *req), out);
}

grpc::ServerUnaryReactor* EvaluateService::GetEvaluation(
    Ctx* ctx, const v1::GetEvaluationRequest* req, v1::Evaluation* out) {
  return rpc::FinishUnary(ctx, evaluator_->Get(req->id()), out);
}

grpc::ServerUnaryReactor* EvaluateService::ListEvaluations(
    Ctx* ctx, const v1::ListEvaluationsRequest* req,
    v1::ListEvaluationsResponse* out) {
  auto list =
      evaluator_->List(req->model(), req->limit() > 0 ? req->limit() : 50);
  if (!list.ok()) return rpc::FinishUnary(ctx, list.status());
  for (auto& e : *list) *out->add_evaluations() = std::move(e);
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

}  // namespace mlpipe::evaluate
