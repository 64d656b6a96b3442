// mlpipe.v1.Evaluator over gRPC: a thin adapter over Evaluator.
#ifndef MLPIPE_SERVICES_EVALUATE_EVALUATE_SERVICE_H_
#define MLPIPE_SERVICES_EVALUATE_EVALUATE_SERVICE_H_

#include "common/ops/operation_manager.h"
#include "mlpipe/v1/evaluate_service.grpc.pb.h"
#include "services/evaluate/evaluator.h"

namespace mlpipe::evaluate {

class EvaluateService final : public v1::Evaluator::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  // `ops` runs Evaluate (kind "evaluate"); both outlive the service.
  EvaluateService(Evaluator* evaluator, ops::OperationManager* ops)
      : evaluator_(evaluator), ops_(ops) {}

  grpc::ServerUnaryReactor* Evaluate(Ctx* ctx, const v1::EvaluateRequest* req,
                                     v1::Operation* out) override;
  grpc::ServerUnaryReactor* GetEvaluation(Ctx* ctx,
                                          const v1::GetEvaluationRequest* req,
                                          v1::Evaluation* out) override;
  grpc::ServerUnaryReactor* ListEvaluations(
      Ctx* ctx, const v1::ListEvaluationsRequest* req,
      v1::ListEvaluationsResponse* out) override;

 private:
  Evaluator* const evaluator_;
  ops::OperationManager* const ops_;
};

}  // namespace mlpipe::evaluate

#endif  // MLPIPE_SERVICES_EVALUATE_EVALUATE_SERVICE_H_
