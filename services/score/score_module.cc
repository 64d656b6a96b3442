#include "services/score/score_module.h"

#include <chrono>

#include "common/rpc/channel.h"
#include "common/rpc/status.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "mlpipe/v1/orchestrator_service.grpc.pb.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "services/ingest/ingest_client.h"
#include "services/orchestrator/registry_client.h"
#include "services/prep/prep_client.h"
#include "services/score/inference_service.h"
#include "services/score/scoring_service.h"
#include "services/train/train_client.h"

namespace mlpipe::score {
namespace {

constexpr char kScoringService[] = "mlpipe.v1.Scoring";
constexpr char kInferenceService[] = "inference.GRPCInferenceService";

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

}  // namespace

// Models, features, rows and the registry over gRPC.
class ScoreModule::GrpcSources final : public ModelSource,
                                       public AliasRegistry,
                                       public OnlineFeatures,
                                       public BatchSources {
 public:
  void Connect(std::shared_ptr<grpc::Channel> train,
               std::shared_ptr<grpc::Channel> prep,
               std::shared_ptr<grpc::Channel> ingest,
               std::shared_ptr<grpc::Channel> orchestrator) {
    std::lock_guard lock(mu_);
    train_ = std::move(train);
    prep_ = std::move(prep);
    ingest_ = std::move(ingest);
    orchestrator_ = std::move(orchestrator);
  }

  absl::StatusOr<v1::ModelArtifact> GetModel(
      const std::string& model) override {
    return train::GetModel(Channel(&train_), model);
  }

  absl::Status PublishRoute(const v1::Route& route, int64_t expected_revision,
                            const std::string& set_by) override {
    auto stub = v1::Orchestrator::NewStub(Channel(&orchestrator_));
    grpc::ClientContext call;
    call.set_deadline(In(30));
    v1::SetAliasRequest req;
    req.set_alias(route.alias());
    req.set_model_version(PrimaryOf(route));
    req.set_set_by(set_by);
    *req.mutable_route() = route;
    req.set_expected_route_revision(expected_revision);
    v1::AliasRecord out;
    return rpc::FromGrpcStatus(stub->SetAlias(&call, req, &out));
  }

  absl::StatusOr<std::vector<v1::Route>> Routes() override {
    return orchestrator::ListRoutes(Channel(&orchestrator_));
  }

  absl::StatusOr<std::vector<std::optional<std::vector<double>>>> Get(
      const std::string& feature_set, const std::vector<std::string>& keys,
      const std::vector<std::string>& features) override {
    auto stub = v1::Prep::NewStub(Channel(&prep_));
    grpc::ClientContext call;
    call.set_deadline(In(5));
    v1::GetOnlineFeaturesRequest req;
    req.set_feature_set(feature_set);
    *req.mutable_keys() = {keys.begin(), keys.end()};
    *req.mutable_features() = {features.begin(), features.end()};
    v1::GetOnlineFeaturesResponse resp;
    if (auto s = stub->GetOnlineFeatures(&call, req, &resp); !s.ok())
      return rpc::FromGrpcStatus(s);
    std::vector<std::optional<std::vector<double>>> out;
    for (const auto& v : resp.vectors()) {
      if (!v.found()) {
        out.emplace_back();
      } else {
        out.emplace_back(
            std::vector<double>(v.values().begin(), v.values().end()));
      }
    }
    return out;
  }

  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t* version) override {
    auto channel = Channel(&ingest_);
    auto v = ingest::GetDatasetVersion(channel, dataset, *version);
    if (!v.ok()) return v.status();
    *version = v->version;
    v1::ReadBatchesRequest req;
    req.set_dataset(dataset);
    req.set_up_to_version(v->version);
    return ingest::ReadBatches(channel, std::move(req));
  }

  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const std::string& feature_set,
      const std::vector<std::string>& columns) override {
    v1::ReadFeaturesRequest req;
    req.set_feature_set(feature_set);
    *req.mutable_columns() = {columns.begin(), columns.end()};
    return prep::ReadFeatures(Channel(&prep_), req);
  }

 private:
  std::shared_ptr<grpc::Channel> Channel(std::shared_ptr<grpc::Channel>* c) {
    std::lock_guard lock(mu_);
    return *c;
  }
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> train_, prep_, ingest_,
      orchestrator_;  // GUARDED_BY(mu_)
};

// The prediction log's sink: the monitoring service's LogPredictions, one
// stream per batch, retried while the service is unavailable (the logger's
// bounded queue holds what comes meanwhile).
class ScoreModule::MonitorSink final : public PredictionSink {
 public:
  void Connect(std::shared_ptr<grpc::Channel> monitor) {
    std::lock_guard lock(mu_);
    channel_ = std::move(monitor);
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stopping_ = true;
    wake_.notify_all();
  }

  absl::Status Write(std::vector<v1::PredictionRecord> batch) override {
    v1::PredictionBatch message;
    message.mutable_records()->Reserve(static_cast<int>(batch.size()));
    for (auto& r : batch) *message.add_records() = std::move(r);
    absl::Status s;
    auto wait = std::chrono::milliseconds(100);
    for (int attempt = 0; attempt < 6; ++attempt) {
      std::shared_ptr<grpc::Channel> channel;
      {
        std::unique_lock lock(mu_);
        if (attempt > 0 &&
            wake_.wait_for(lock, wait, [this] { return stopping_; }))
          break;
        channel = channel_;
      }
      if (channel == nullptr) {
        s = absl::UnavailableError("the monitoring service is not connected");
        continue;
      }
      auto stub = v1::Monitor::NewStub(channel);
      grpc::ClientContext call;
      call.set_deadline(In(30));
      v1::LogPredictionsResponse resp;
      auto writer = stub->LogPredictions(&call, &resp);
      writer->Write(message);
      writer->WritesDone();
      s = rpc::FromGrpcStatus(writer->Finish());
      if (s.ok() || !absl::IsUnavailable(s)) break;
      wait *= 2;
    }
    return s;
  }

 private:
  std::mutex mu_;
  std::condition_variable wake_;
  std::shared_ptr<grpc::Channel> channel_;  // GUARDED_BY(mu_)
  bool stopping_ = false;                   // GUARDED_BY(mu_)
};

absl::StatusOr<std::unique_ptr<ScoreModule>> ScoreModule::Open(
    const std::string& data_dir, ScoreModuleOptions options) {
  std::unique_ptr<ScoreModule> m(new ScoreModule());
  m->options_ = std::move(options);
  storage::Options so;
  so.column_families = {{.name = kRoutes},
                        {.name = kRouteLog},
                        {.name = kPredictionLog},
                        {.name = kBatchJobs},
                        {.name = kBatchResults, .large_values = true},
                        {.name = ops::kOperationsColumnFamily},
                        {.name = events::kEventsColumnFamily}};
  auto store = storage::OpenRocksStore(data_dir + "/score", so);
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "score");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  m->sources_ = std::make_unique<GrpcSources>();
  m->manager_ = std::make_unique<ModelManager>(m->sources_.get(),
                                               m->options_.default_alias);
  m->deployments_ = std::make_unique<Deployments>(
      m->store_.get(), m->log_.get(), m->manager_.get(), m->sources_.get(),
      m->sources_.get(), m->options_.default_alias);
  m->sink_ = std::make_unique<MonitorSink>();
  m->logger_ =
      std::make_unique<PredictionLogger>(m->options_.log, m->sink_.get());
  m->predictor_ =
      std::make_unique<Predictor>(m->options_.predictor, m->manager_.get(),
                                  m->sources_.get(), m->logger_.get());
  m->batch_ = std::make_unique<BatchScorer>(
      m->options_.batch, m->store_.get(), m->manager_.get(), m->sources_.get(),
      m->sources_.get());
  m->ops_ = std::make_unique<ops::OperationManager>(
      ops::OperationManagerOptions{.service = "score"}, m->store_.get());
  BatchScorer* batch = m->batch_.get();
  m->ops_->Register(
      "batch_score",
      [batch](const google::protobuf::Any& any, ops::Progress& progress)
          -> absl::StatusOr<google::protobuf::Any> {
        v1::StartBatchScoringRequest req;
        if (!any.UnpackTo(&req))
          return absl::InternalError("stored batch request is unreadable");
        auto job = batch->Run(req, progress);
        if (!job.ok()) return job.status();
        google::protobuf::Any out;
        out.PackFrom(*job);
        return out;
      });
  m->scoring_ = std::make_unique<ScoringService>(
      m->predictor_.get(), m->deployments_.get(), m->batch_.get(),
      m->ops_.get());
  m->inference_ = std::make_unique<InferenceService>(m->predictor_.get(),
                                                     m->deployments_.get());
  return m;
}

std::vector<grpc::Service*> ScoreModule::services() {
  return {scoring_.get(), inference_.get()};
}

absl::Status ScoreModule::Start(std::shared_ptr<grpc::Channel> self) {
  auto pick = [&self](const std::string& address) {
    return address.empty() ? self : rpc::NewChannel(address);
  };
  sources_->Connect(pick(options_.train_address), pick(options_.prep_address),
                    pick(options_.ingest_address),
                    pick(options_.orchestrator_address));
  sink_->Connect(pick(options_.monitor_address));
  if (health_) {
    health_(kScoringService, false);
    health_(kInferenceService, false);
  }
  restore_ = std::thread([this] { RestoreLoop(); });
  return ops_->Resume();
}

void ScoreModule::RestoreLoop() {
  auto wait = std::chrono::milliseconds(200);
  // Ready once the stored routes and the registry's newer ones are loaded.
  while (true) {
    absl::Status s = deployments_->Restore();
    if (s.ok()) s = deployments_->Sync().status();
    if (s.ok()) break;
    LogWarning("deployments not loaded yet; retrying",
               {{"error", std::string(s.message())},
                {"retry_ms", StrCat(wait.count())}});
    if (Pause(wait)) return;
    wait = std::min(wait * 2, std::chrono::milliseconds(30000));
  }
  if (health_) {
    health_(kScoringService, true);
    health_(kInferenceService, true);
  }
  LogInfo("scoring is ready",
          {{"routes", StrCat(deployments_->List().routes_size())}});
  // Then follow the routes changed through other replicas.
  if (options_.route_sync.count() <= 0) return;
  while (!Pause(options_.route_sync)) {
    if (auto s = deployments_->Sync(); !s.ok())
      LogWarning("cannot sync routes from the registry",
                 {{"error", std::string(s.status().message())}});
  }
}

bool ScoreModule::Pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return stop_cv_.wait_for(lock, d, [this] { return stopping_; });
}

void ScoreModule::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (restore_.joinable()) restore_.join();
  if (ops_) ops_->Stop();
  if (logger_) logger_->Flush();
  if (sink_) sink_->Stop();
}

ScoreModule::~ScoreModule() {
  Stop();
  scoring_.reset();
  inference_.reset();
  ops_.reset();
  batch_.reset();
  predictor_.reset();
  logger_.reset();
  sink_.reset();
  deployments_.reset();
  manager_.reset();
  sources_.reset();
  log_.reset();
  store_.reset();
}

}  // namespace mlpipe::score
