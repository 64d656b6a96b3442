// mlpipe.v1.Training over gRPC: a thin adapter over Trainer.
#ifndef MLPIPE_SERVICES_TRAIN_TRAINING_SERVICE_H_
#define MLPIPE_SERVICES_TRAIN_TRAINING_SERVICE_H_

#include "common/rpc/off_thread.h"
#include "mlpipe/v1/train_service.grpc.pb.h"
#include "services/train/trainer.h"

namespace mlpipe::train {

class TrainingService final : public v1::Training::CallbackService {
 public:
  using Ctx = grpc::CallbackServerContext;
  // `ops` runs StartTraining (kind "train"); both outlive the service.
  TrainingService(Trainer* trainer, ops::OperationManager* ops)
      : trainer_(trainer), ops_(ops) {}

  grpc::ServerUnaryReactor* StartTraining(Ctx* ctx,
                                          const v1::StartTrainingRequest* req,
                                          v1::Operation* out) override;
  grpc::ServerWriteReactor<v1::TrainingJob>* WatchJob(
      Ctx* ctx, const v1::WatchJobRequest* req) override;
  grpc::ServerUnaryReactor* GetJob(Ctx* ctx, const v1::GetJobRequest* req,
                                   v1::TrainingJob* out) override;
  grpc::ServerUnaryReactor* CancelJob(Ctx* ctx, const v1::CancelJobRequest* req,
                                      v1::TrainingJob* out) override;
  grpc::ServerUnaryReactor* ListTrials(Ctx* ctx,
                                       const v1::ListTrialsRequest* req,
                                       v1::ListTrialsResponse* out) override;
  grpc::ServerUnaryReactor* GetModel(Ctx* ctx, const v1::GetModelRequest* req,
                                     v1::ModelArtifact* out) override;
  grpc::ServerUnaryReactor* ListModels(Ctx* ctx,
                                       const v1::ListModelsRequest* req,
                                       v1::ListModelsResponse* out) override;
  // Long: runs on a thread of its own.
  grpc::ServerUnaryReactor* TrainTrial(Ctx* ctx,
                                       const v1::TrainTrialRequest* req,
                                       v1::TrainTrialResponse* out) override;
  // Long: runs on a thread of its own, its reports written one at a time.
  grpc::ServerWriteReactor<v1::ShardReport>* TrainShard(
      Ctx* ctx, const v1::TrainShardRequest* req) override;

 private:
  Trainer* const trainer_;
  ops::OperationManager* const ops_;
  rpc::OffThreadCalls long_calls_;
};

}  // namespace mlpipe::train

#endif  // MLPIPE_SERVICES_TRAIN_TRAINING_SERVICE_H_
