#include "services/evaluate/evaluate_module.h"

#include <chrono>
#include <mutex>

#include "common/rpc/channel.h"
#include "common/rpc/status.h"
#include "services/evaluate/evaluate_service.h"
#include "services/ingest/ingest_client.h"
#include "services/prep/prep_client.h"
#include "services/split/split_client.h"
#include "services/train/train_client.h"

namespace mlpipe::evaluate {

// EvaluateSources over gRPC.
class EvaluateModule::GrpcSources final : public EvaluateSources {
 public:
  void Connect(std::shared_ptr<grpc::Channel> train,
               std::shared_ptr<grpc::Channel> split,
               std::shared_ptr<grpc::Channel> prep,
               std::shared_ptr<grpc::Channel> ingest) {
    std::lock_guard lock(mu_);
    train_ = std::move(train);
    split_ = std::move(split);
    prep_ = std::move(prep);
    ingest_ = std::move(ingest);
  }

  absl::StatusOr<v1::ModelArtifact> GetModel(const std::string& id) override {
    return train::GetModel(Channel(&train_), id);
  }
  absl::StatusOr<v1::Split> GetSplit(const std::string& id) override {
    return split::GetSplit(Channel(&split_), id);
  }
  absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
      const std::string& id) override {
    return split::ReadAssignments(Channel(&split_), id);
  }
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& request) override {
    return prep::ReadFeatures(Channel(&prep_), request);
  }
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns) override {
    return ingest::ReadVersion(Channel(&ingest_), dataset, version, columns);
  }

 private:
  std::shared_ptr<grpc::Channel> Channel(std::shared_ptr<grpc::Channel>* c) {
    std::lock_guard lock(mu_);
    return *c;
  }
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> train_, split_, prep_,
      ingest_;  // GUARDED_BY(mu_)
};

absl::StatusOr<std::unique_ptr<EvaluateModule>> EvaluateModule::Open(
    const std::string& data_dir, EvaluateModuleOptions options) {
  std::unique_ptr<EvaluateModule> m(new EvaluateModule());
  m->options_ = std::move(options);
  auto store = storage::OpenRocksStore(data_dir + "/evaluate",
                                       Evaluator::StorageOptions());
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "evaluate");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  m->sources_ = std::make_unique<GrpcSources>();
  m->evaluator_ = std::make_unique<Evaluator>(
      m->options_.evaluator, m->store_.get(), m->log_.get(), m->sources_.get());
  m->ops_ = std::make_unique<ops::OperationManager>(
      ops::OperationManagerOptions{.service = "evaluate"}, m->store_.get());
  Evaluator* evaluator = m->evaluator_.get();
  m->ops_->Register(
      "evaluate",
      [evaluator](const google::protobuf::Any& any, ops::Progress& progress)
          -> absl::StatusOr<google::protobuf::Any> {
        v1::EvaluateRequest req;
        if (!any.UnpackTo(&req))
          return absl::InternalError("stored evaluate request is unreadable");
        auto e = evaluator->Run(req, progress);
        if (!e.ok()) return e.status();
        google::protobuf::Any out;
        out.PackFrom(*e);
        return out;
      });
  m->service_ = std::make_unique<EvaluateService>(evaluator, m->ops_.get());
  return m;
}

void EvaluateModule::Stop() {
  if (ops_) ops_->Stop();
}

EvaluateModule::~EvaluateModule() {
  Stop();
  service_.reset();
  ops_.reset();
  evaluator_.reset();
  sources_.reset();
  log_.reset();
  store_.reset();
}

absl::Status EvaluateModule::Start(std::shared_ptr<grpc::Channel> self) {
  auto pick = [&self](const std::string& address) {
    return address.empty() ? self : rpc::NewChannel(address);
  };
  sources_->Connect(pick(options_.train_address), pick(options_.split_address),
                    pick(options_.prep_address), pick(options_.ingest_address));
  return ops_->Resume();
}

}  // namespace mlpipe::evaluate
