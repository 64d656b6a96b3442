// mlpipe.v1.Scoring over gRPC: a thin adapter over Predictor, Deployments and
// BatchScorer.
#ifndef MLPIPE_SERVICES_SCORE_SCORING_SERVICE_H_
#define MLPIPE_SERVICES_SCORE_SCORING_SERVICE_H_

#include "common/ops/operation_manager.h"
#include "common/rpc/off_thread.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "services/score/batch_scorer.h"
#include "services/score/deployments.h"
#include "services/score/predictor.h"

namespace mlpipe::score {

// Rows of a PredictRequest as raw fields. INVALID_ARGUMENT naming a value
// that is not a number, string or null.
absl::Status RowsFromRequest(const v1::PredictRequest& request,
                             std::vector<serving::RawRow>* rows);
// The response for `out`.
void FillResponse(const PredictOutput& out, v1::PredictResponse* response);

class ScoringService final : public v1::Scoring::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  // Not owned; all outlive the service. `ops` runs batch scoring (kind
  // "batch_score").
  ScoringService(Predictor* predictor, Deployments* deployments,
                 BatchScorer* batch, ops::OperationManager* ops)
      : predictor_(predictor),
        deployments_(deployments),
        batch_(batch),
        ops_(ops) {}

  grpc::ServerUnaryReactor* Predict(Ctx* ctx, const v1::PredictRequest* req,
                                    v1::PredictResponse* out) override;
  grpc::ServerUnaryReactor* Deploy(Ctx* ctx, const v1::DeployRequest* req,
                                   v1::DeployResponse* out) override;
  grpc::ServerUnaryReactor* Undeploy(Ctx* ctx, const v1::UndeployRequest* req,
                                     v1::ListDeploymentsResponse* out) override;
  grpc::ServerUnaryReactor* Rollback(Ctx* ctx, const v1::RollbackRequest* req,
                                     v1::Route* out) override;
  grpc::ServerUnaryReactor* ListDeployments(
      Ctx* ctx, const v1::ListDeploymentsRequest* req,
      v1::ListDeploymentsResponse* out) override;
  grpc::ServerUnaryReactor* RouteHistory(
      Ctx* ctx, const v1::RouteHistoryRequest* req,
      v1::RouteHistoryResponse* out) override;
  grpc::ServerUnaryReactor* StartBatchScoring(
      Ctx* ctx, const v1::StartBatchScoringRequest* req,
      v1::Operation* out) override;
  grpc::ServerUnaryReactor* GetBatchScoring(
      Ctx* ctx, const v1::GetBatchScoringRequest* req,
      v1::BatchScoring* out) override;
  grpc::ServerUnaryReactor* ListBatchScorings(
      Ctx* ctx, const v1::ListBatchScoringsRequest* req,
      v1::ListBatchScoringsResponse* out) override;
  grpc::ServerWriteReactor<v1::Frame>* ReadBatchScores(
      Ctx* ctx, const v1::ReadBatchScoresRequest* req) override;

 private:
  Predictor* const predictor_;
  Deployments* const deployments_;
  BatchScorer* const batch_;
  ops::OperationManager* const ops_;
  rpc::OffThreadCalls off_thread_;  // Deploy, Undeploy, Rollback load models.
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_SCORING_SERVICE_H_
