#include "services/train/training_service.h"

#include <condition_variable>
#include <mutex>
#include <thread>

#include "clients/train_request.h"
#include "common/rpc/status.h"
#include "common/rpc/watch_reactor.h"
#include "common/util/strings.h"

namespace mlpipe::train {
namespace {

bool Ended(const v1::TrainingJob& job) {
  return job.state() == v1::Operation::SUCCEEDED ||
         job.state() == v1::Operation::FAILED ||
         job.state() == v1::Operation::CANCELLED;
}

// A shard's reports as the trainer pushes them from a thread of its own,
// which waits while the previous one is being written (flow control) and
// sees the call cancelled once the coordinator went away.
class ShardStream final : public grpc::ServerWriteReactor<v1::ShardReport> {
 public:
  ShardStream(Trainer* trainer, v1::TrainShardRequest request) {
    worker_ = std::thread([this, trainer, request = std::move(request)] {
      absl::Status s = trainer->TrainShard(
          request, [this](const v1::ShardReport& r) { return Write(r); },
          [this] {
            std::lock_guard lock(mu_);
            return gone_;
          });
      std::unique_lock lock(mu_);
      idle_.wait(lock, [this] { return !writing_; });
      Finish(rpc::ToGrpcStatus(s));
    });
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) gone_ = true;
    idle_.notify_all();
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    gone_ = true;
    idle_.notify_all();
  }
  void OnDone() override {
    worker_.join();
    delete this;
  }

 private:
  absl::Status Write(const v1::ShardReport& r) {
    std::unique_lock lock(mu_);
    idle_.wait(lock, [this] { return !writing_ || gone_; });
    if (gone_) return absl::CancelledError("the coordinator went away");
    report_ = r;
    writing_ = true;
    StartWrite(&report_);
    return absl::OkStatus();
  }

  std::mutex mu_;
  std::condition_variable idle_;
  bool writing_ = false;    // GUARDED_BY(mu_)
  bool gone_ = false;       // GUARDED_BY(mu_)
  v1::ShardReport report_;  // GUARDED_BY(mu_) while writing_.
  std::thread worker_;
};

}  // namespace

grpc::ServerUnaryReactor* TrainingService::StartTraining(
    Ctx* ctx, const v1::StartTrainingRequest* req, v1::Operation* out) {
  if (auto s = CheckTrainingRequest(*req); !s.ok())
    return rpc::FinishUnary(ctx, s);
  auto op = ops_->Start("train", *req, req->idempotency_key());
  if (op.ok()) {
    if (auto s = trainer_->Created(op->id(), *req); !s.ok())
      return rpc::FinishUnary(ctx, s);
  }
  return rpc::FinishUnary(ctx, op, out);
}

grpc::ServerWriteReactor<v1::TrainingJob>* TrainingService::WatchJob(
    Ctx*, const v1::WatchJobRequest* req) {
  Trainer* t = trainer_;
  const std::string id = req->id();
  return new rpc::WatchReactor<v1::TrainingJob>({
      .add_listener =
          [t, id](std::function<void(const v1::TrainingJob&)> fn) {
            return t->AddListener([id, fn](const v1::TrainingJob& job) {
              if (job.id() == id) fn(job);
            });
          },
      .remove_listener = [t](int h) { t->RemoveListener(h); },
      .get = [t, id]() { return t->GetJob(id); },
      .ended = Ended,
  });
}

grpc::ServerUnaryReactor* TrainingService::GetJob(Ctx* ctx,
                                                  const v1::GetJobRequest* req,
                                                  v1::TrainingJob* out) {
  return rpc::FinishUnary(ctx, trainer_->GetJob(req->id()), out);
}

grpc::ServerUnaryReactor* TrainingService::CancelJob(
    Ctx* ctx, const v1::CancelJobRequest* req, v1::TrainingJob* out) {
  auto job = trainer_->GetJob(req->id());
  if (!job.ok()) return rpc::FinishUnary(ctx, job.status());
  if (auto op = ops_->Cancel(req->id()); !op.ok())
    return rpc::FinishUnary(ctx, op.status());
  return rpc::FinishUnary(ctx, trainer_->GetJob(req->id()), out);
}

grpc::ServerUnaryReactor* TrainingService::ListTrials(
    Ctx* ctx, const v1::ListTrialsRequest* req, v1::ListTrialsResponse* out) {
  auto trials = trainer_->ListTrials(*req);
  if (!trials.ok()) return rpc::FinishUnary(ctx, trials.status());
  for (auto& t : *trials) *out->add_trials() = std::move(t);
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TrainingService::GetModel(
    Ctx* ctx, const v1::GetModelRequest* req, v1::ModelArtifact* out) {
  if (req->id().empty()) {
    return rpc::FinishUnary(
        ctx, absl::InvalidArgumentError("id: required (\"name:version\")"));
  }
  auto model = trainer_->models().Get(req->id());
  if (model.ok() && req->summary()) *model = Summary(*model);
  return rpc::FinishUnary(ctx, model, out);
}

grpc::ServerUnaryReactor* TrainingService::ListModels(
    Ctx* ctx, const v1::ListModelsRequest* req, v1::ListModelsResponse* out) {
  auto models = trainer_->models().List(req->name(), req->limit());
  if (!models.ok()) return rpc::FinishUnary(ctx, models.status());
  for (auto& m : *models) *out->add_models() = std::move(m);
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* TrainingService::TrainTrial(
    Ctx* ctx, const v1::TrainTrialRequest* req, v1::TrainTrialResponse* out) {
  return long_calls_.Run(ctx, [this, ctx, req, out]() -> absl::Status {
    auto resp =
        trainer_->TrainTrial(*req, [ctx] { return ctx->IsCancelled(); });
    if (!resp.ok()) return resp.status();
    *out = std::move(*resp);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::ShardReport>* TrainingService::TrainShard(
    Ctx*, const v1::TrainShardRequest* req) {
  return new ShardStream(trainer_, *req);
}

}  // namespace mlpipe::train
