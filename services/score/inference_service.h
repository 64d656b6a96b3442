// The Open Inference Protocol (KServe v2, as Triton serves it) over gRPC:
// inference.GRPCInferenceService, an adapter over the same Predictor as
// mlpipe.v1.Scoring. Each raw field is a named input tensor of shape [N]
// (or [N, 1]): FP64 / FP32 / INT* / UINT* / BOOL as numbers (NaN: missing),
// BYTES as strings, in `contents` or `raw_input_contents`. Outputs:
// prediction_id (BYTES [N]); label (BYTES [N]) and probabilities (FP64
// [N, classes]) for classification; value (FP64 [N]) for regression and
// binary P(positive); cluster (INT64 [N]). A model is named by an alias, a
// model name (+ version), or "name:version"; the response names the version
// that answered and carries parameters alias and fallback.
#ifndef MLPIPE_SERVICES_SCORE_INFERENCE_SERVICE_H_
#define MLPIPE_SERVICES_SCORE_INFERENCE_SERVICE_H_

#include "common/rpc/off_thread.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "services/score/deployments.h"
#include "services/score/predictor.h"

namespace mlpipe::score {

// Rows from the request's input tensors, at most `max_rows`.
// INVALID_ARGUMENT naming the tensor. A tensor's claimed shape is checked
// against the limit and against the values it carries before rows are
// allocated.
absl::Status RowsFromInfer(const inference::ModelInferRequest& request,
                           size_t max_rows, std::vector<serving::RawRow>* rows);

class InferenceService final
    : public inference::GRPCInferenceService::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  InferenceService(Predictor* predictor, Deployments* deployments)
      : predictor_(predictor), deployments_(deployments) {}

  grpc::ServerUnaryReactor* ServerLive(
      Ctx* ctx, const inference::ServerLiveRequest* req,
      inference::ServerLiveResponse* out) override;
  grpc::ServerUnaryReactor* ServerReady(
      Ctx* ctx, const inference::ServerReadyRequest* req,
      inference::ServerReadyResponse* out) override;
  grpc::ServerUnaryReactor* ModelReady(
      Ctx* ctx, const inference::ModelReadyRequest* req,
      inference::ModelReadyResponse* out) override;
  grpc::ServerUnaryReactor* ServerMetadata(
      Ctx* ctx, const inference::ServerMetadataRequest* req,
      inference::ServerMetadataResponse* out) override;
  grpc::ServerUnaryReactor* ModelMetadata(
      Ctx* ctx, const inference::ModelMetadataRequest* req,
      inference::ModelMetadataResponse* out) override;
  grpc::ServerUnaryReactor* ModelInfer(
      Ctx* ctx, const inference::ModelInferRequest* req,
      inference::ModelInferResponse* out) override;

 private:
  // Decodes, scores and fills `out` (on a scoring thread), then calls
  // `done` (once the prediction log has the answer).
  void Infer(const inference::ModelInferRequest& req, absl::Time arrived,
             inference::ModelInferResponse* out, rpc::Done done);

  Predictor* const predictor_;
  Deployments* const deployments_;
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_INFERENCE_SERVICE_H_
