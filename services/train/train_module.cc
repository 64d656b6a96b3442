#include "services/train/train_module.h"

#include <chrono>
#include <mutex>
#include <thread>

#include "common/rpc/channel.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "mlpipe/v1/train_service.grpc.pb.h"
#include "services/prep/prep_client.h"
#include "services/split/split_client.h"
#include "services/train/training_service.h"

namespace mlpipe::train {

// TrainSources over gRPC: splits from the split service, feature sets and
// transforms from prep.
class TrainModule::GrpcSources final : public TrainSources {
 public:
  void Connect(std::shared_ptr<grpc::Channel> split,
               std::shared_ptr<grpc::Channel> prep) {
    std::lock_guard lock(mu_);
    split_ = std::move(split);
    prep_ = std::move(prep);
  }

  absl::StatusOr<v1::Split> GetSplit(const std::string& id) override {
    return split::GetSplit(Split(), id);
  }
  absl::StatusOr<v1::FeatureSet> GetFeatureSet(const std::string& id) override {
    return prep::GetFeatureSet(Prep(), id);
  }
  absl::StatusOr<v1::FittedTransform> GetTransform(
      const std::string& id) override {
    return prep::GetTransform(Prep(), id);
  }
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& request) override {
    return prep::ReadFeatures(Prep(), request);
  }
  absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
      const std::string& split) override {
    return split::ReadAssignments(Split(), split);
  }

 private:
  std::shared_ptr<grpc::Channel> Split() {
    std::lock_guard lock(mu_);
    return split_;
  }
  std::shared_ptr<grpc::Channel> Prep() {
    std::lock_guard lock(mu_);
    return prep_;
  }
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> split_, prep_;  // GUARDED_BY(mu_)
};

// Trials on train replicas: one TrainTrial call each, spread round robin by
// the channel; the call is cancelled when the job is.
class TrainModule::RemoteTrials final : public TrialRunner {
 public:
  explicit RemoteTrials(const std::string& target)
      : stub_(v1::Training::NewStub(rpc::NewChannel(target))) {}

  absl::StatusOr<v1::TrainTrialResponse> Run(
      const v1::TrainTrialRequest& request,
      const std::function<bool()>& cancelled) override {
    grpc::ClientContext call;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    v1::TrainTrialResponse resp;
    stub_->async()->TrainTrial(&call, &request, &resp, [&](grpc::Status s) {
      std::lock_guard lock(mu);
      status = std::move(s);
      done = true;
      cv.notify_all();
    });
    std::unique_lock lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(200),
                        [&] { return done; })) {
      if (cancelled()) call.TryCancel();
    }
    if (!status.ok()) return rpc::FromGrpcStatus(status);
    return resp;
  }

 private:
  std::unique_ptr<v1::Training::Stub> stub_;
};

absl::StatusOr<std::unique_ptr<TrainModule>> TrainModule::Open(
    const std::string& data_dir, TrainModuleOptions options) {
  std::unique_ptr<TrainModule> m(new TrainModule());
  m->options_ = std::move(options);
  auto store =
      storage::OpenRocksStore(data_dir + "/train", Trainer::StorageOptions());
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "train");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  m->sources_ = std::make_unique<GrpcSources>();
  TrainerOptions trainer = m->options_.trainer;
  if (!m->options_.replicas.empty()) {
    m->replicas_ = std::make_unique<RemoteTrials>(m->options_.replicas);
    trainer.replicas = m->replicas_.get();
  }
  m->trainer_ = std::make_unique<Trainer>(trainer, m->store_.get(),
                                          m->log_.get(), m->sources_.get());
  m->ops_ = std::make_unique<ops::OperationManager>(
      ops::OperationManagerOptions{
          .service = "train",
          .workers = std::max(1, m->options_.parallel_jobs)},
      m->store_.get());
  Trainer* t = m->trainer_.get();
  m->ops_->Register(
      "train",
      [t](const google::protobuf::Any& any,
          ops::Progress& progress) -> absl::StatusOr<google::protobuf::Any> {
        v1::StartTrainingRequest req;
        if (!any.UnpackTo(&req))
          return absl::InternalError("stored training request is unreadable");
        auto result = t->Run(req, progress);
        if (!result.ok()) return result.status();
        google::protobuf::Any out;
        out.PackFrom(*result);
        return out;
      });
  m->service_ = std::make_unique<TrainingService>(t, m->ops_.get());
  return m;
}

void TrainModule::Stop() {
  if (ops_) ops_->Stop();
}

TrainModule::~TrainModule() {
  Stop();
  service_.reset();
  ops_.reset();
  trainer_.reset();
  replicas_.reset();
  sources_.reset();
  log_.reset();
  store_.reset();
}

absl::Status TrainModule::Start(std::shared_ptr<grpc::Channel> self) {
  sources_->Connect(
      options_.split_address.empty() ? self
                                     : rpc::NewChannel(options_.split_address),
      options_.prep_address.empty() ? self
                                    : rpc::NewChannel(options_.prep_address));
  return ops_->Resume();
}

}  // namespace mlpipe::train
