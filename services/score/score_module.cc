#include "services/score/score_module.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/flags/flag.h"
#include "clients/ingest_client.h"
#include "clients/monitor_client.h"
#include "clients/prep_client.h"
#include "clients/registry_client.h"
#include "clients/train_client.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/modules.h"
#include "services/score/inference_service.h"
#include "services/score/scoring_service.h"

ABSL_FLAG(std::string, score_default_alias, "production",
          "The alias Predict uses when a request names no model.");
ABSL_FLAG(int, score_max_concurrent, 64,
          "Predict and ModelInfer requests admitted at once (waiting for a "
          "scoring thread or running); more get RESOURCE_EXHAUSTED at once.");
ABSL_FLAG(int, score_threads, 0,
          "Threads scoring admitted requests (0: one per core, at least 2).");
ABSL_FLAG(int, score_max_rows, 10000, "Rows per Predict request, at most.");
ABSL_FLAG(int, score_max_field_bytes, 65536,
          "Bytes of one field's value in a Predict request, at most.");
ABSL_FLAG(int, score_worker_threads, 4,
          "Threads for versions under a latency budget and for shadows.");
ABSL_FLAG(int, score_log_queue, 100000,
          "Prediction records waiting to be shipped to the monitoring "
          "service; more are dropped (counted).");
ABSL_FLAG(int64_t, score_log_max_bytes, int64_t{256} << 20,
          "Bytes of prediction log files waiting to be shipped; more are "
          "dropped (counted).");
ABSL_FLAG(bool, score_log_inputs, true,
          "Log the raw fields of every prediction.");
ABSL_FLAG(bool, score_log_features, false,
          "Log the model's feature vector of predictions made from raw fields "
          "too (those made from entity keys always log it: it is the only "
          "record of their input). Off, a logged raw row and its model "
          "version's transform give the vector again.");
ABSL_FLAG(int, score_batch_threads, 2, "Threads per batch scoring job.");
ABSL_FLAG(int, score_route_sync_ms, 1000,
          "How often routes changed through other scoring replicas are taken "
          "from the registry (0: never).");

namespace mlpipe::score {
namespace {

constexpr char kScoringService[] = "mlpipe.v1.Scoring";
constexpr char kInferenceService[] = "inference.GRPCInferenceService";

// Models, features, rows and the registry through the peers.
class PeerSources final : public ModelSource,
                          public AliasRegistry,
                          public OnlineFeatures,
                          public BatchSources {
 public:
  // `redis`: the Redis online store (null: prep's, through prep).
  PeerSources(const rpc::Peers& peers, redis::OnlineRedis* redis)
      : peers_(peers), redis_(redis) {}

  absl::StatusOr<v1::ModelArtifact> GetModel(
      const std::string& model) override {
    return train::GetModel(peers_.Channel("train"), model);
  }

  absl::Status PublishRoute(const v1::Route& route, int64_t expected_revision,
                            const std::string& set_by) override {
    return orchestrator::PublishRoute(peers_.Channel("orchestrator"), route,
                                      expected_revision, set_by);
  }

  absl::StatusOr<std::vector<v1::Route>> Routes() override {
    return orchestrator::ListRoutes(peers_.Channel("orchestrator"));
  }

  absl::StatusOr<std::vector<v1::Route>> History(
      const std::string& alias) override {
    return orchestrator::RouteHistory(peers_.Channel("orchestrator"), alias);
  }

  absl::StatusOr<std::vector<std::optional<std::vector<double>>>> Get(
      const std::string& feature_set, const std::vector<std::string>& keys,
      const std::vector<std::string>& features) override {
    if (redis_ != nullptr) return redis_->Get(feature_set, keys, features);
    return prep::GetOnlineFeatures(peers_.Channel("prep"), feature_set, keys,
                                   features);
  }

  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t* version) override {
    auto channel = peers_.Channel("ingest");
    auto v = ingest::GetDatasetVersion(channel, dataset, *version);
    if (!v.ok()) return v.status();
    *version = v->version;
    return ingest::ReadVersion(channel, dataset, v->version, {});
  }

  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const std::string& feature_set,
      const std::vector<std::string>& columns) override {
    v1::ReadFeaturesRequest req;
    req.set_feature_set(feature_set);
    *req.mutable_columns() = {columns.begin(), columns.end()};
    return prep::ReadFeatures(peers_.Channel("prep"), req);
  }

 private:
  const rpc::Peers& peers_;
  redis::OnlineRedis* const redis_;
};

ScoreModuleOptions OptionsFromFlags() {
  ScoreModuleOptions o;
  o.default_alias = absl::GetFlag(FLAGS_score_default_alias);
  o.predictor.max_concurrent = absl::GetFlag(FLAGS_score_max_concurrent);
  o.predictor.threads = absl::GetFlag(FLAGS_score_threads);
  if (o.predictor.threads <= 0) {
    o.predictor.threads =
        std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  }
  o.predictor.max_rows =
      static_cast<size_t>(absl::GetFlag(FLAGS_score_max_rows));
  o.predictor.max_field_bytes =
      static_cast<size_t>(absl::GetFlag(FLAGS_score_max_field_bytes));
  o.predictor.worker_threads = absl::GetFlag(FLAGS_score_worker_threads);
  o.predictor.log_inputs = absl::GetFlag(FLAGS_score_log_inputs);
  o.predictor.log_features = absl::GetFlag(FLAGS_score_log_features);
  o.log.queue_capacity =
      static_cast<size_t>(absl::GetFlag(FLAGS_score_log_queue));
  o.log.max_bytes =
      static_cast<uint64_t>(absl::GetFlag(FLAGS_score_log_max_bytes));
  o.batch.threads = absl::GetFlag(FLAGS_score_batch_threads);
  o.route_sync =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_score_route_sync_ms));
  o.online_store = redis::OnlineStoreConfigFromFlags();
  return o;
}

}  // namespace

// The prediction log's sink: the monitoring service's LogPredictions, one
// stream per batch, retried while the service is unavailable (the logger's
// bounded queue holds what comes meanwhile).
class ScoreModule::MonitorSink final : public PredictionSink {
 public:
  explicit MonitorSink(const rpc::Peers& peers) : peers_(peers) {}
  // Ends the retries' waits.
  void Stop() { retry_.Stop(); }

  absl::Status Write(std::string_view message, size_t records) override {
    absl::Status s;
    auto wait = std::chrono::milliseconds(100);
    for (int attempt = 0; attempt < 6; ++attempt) {
      if (attempt > 0 && !retry_.Wait(wait)) break;
      std::shared_ptr<grpc::Channel> channel = peers_.Channel("monitor");
      if (channel == nullptr) {
        s = absl::UnavailableError("the monitoring service is not connected");
        continue;
      }
      s = monitor::LogPredictions(channel, message, records);
      if (s.ok() || !absl::IsUnavailable(s)) break;
      wait *= 2;
    }
    return s;
  }

 private:
  const rpc::Peers& peers_;
  util::BackgroundLoop retry_;  // Never started: its Wait is the retry pause.
};

absl::StatusOr<std::unique_ptr<ScoreModule>> ScoreModule::Open(
    const host::ModuleEnv& env, ScoreModuleOptions options) {
  std::unique_ptr<ScoreModule> m(new ScoreModule(env));
  m->options_ = std::move(options);
  const ScoreModuleOptions& o = m->options_;
  storage::Options so;
  so.column_families = {{.name = kRoutes},
                        {.name = kRouteLog},
                        {.name = kPredictionLog},
                        {.name = kBatchJobs},
                        {.name = kBatchResults, .large_values = true}};
  if (auto s = m->OpenStore(so); !s.ok()) return s;
  auto redis =
      redis::OpenOnlineStore(o.online_store, "entity keys are looked up there");
  if (!redis.ok()) return redis.status();
  auto* sources = m->Make<PeerSources>(m->peers(), m->Own(*std::move(redis)));
  auto* manager = m->Make<ModelManager>(sources, o.default_alias);
  m->deployments_ = m->Make<Deployments>(m->store(), m->outbox(), manager,
                                         sources, sources, o.default_alias);
  m->sink_ = m->Make<MonitorSink>(m->peers());
  PredictionLoggerOptions log_options = o.log;
  log_options.min_free_bytes = m->min_free_bytes();
  auto logger = PredictionLogger::Open(
      log_options, m->DataPath("prediction-log"), m->store(), m->sink_);
  if (!logger.ok()) return logger.status();
  m->logger_ = m->Own(std::move(*logger));
  auto* predictor =
      m->Make<Predictor>(o.predictor, manager, sources, m->logger_);
  m->predictor_ = predictor;
  auto* batch =
      m->Make<BatchScorer>(o.batch, m->store(), manager, sources, sources);
  m->RegisterOperation<v1::StartBatchScoringRequest, v1::BatchScoring>(
      "batch_score", [batch](const v1::StartBatchScoringRequest& request,
                             ops::Progress& progress) {
        return batch->Run(request, progress);
      });
  m->AddService(std::make_unique<ScoringService>(predictor, m->deployments_,
                                                 batch, m->ops()),
                kScoringService);
  m->AddService(std::make_unique<InferenceService>(predictor, m->deployments_),
                kInferenceService);
  ScoreModule* raw = m.get();
  m->AddLoop([raw](util::BackgroundLoop& loop) { raw->RestoreLoop(loop); });
  return m;
}

ScoreModule::~ScoreModule() { Stop(); }

absl::Status ScoreModule::OnStart() {
  ReportHealth(kScoringService, false);
  ReportHealth(kInferenceService, false);
  return absl::OkStatus();
}

void ScoreModule::RestoreLoop(util::BackgroundLoop& loop) {
  auto wait = std::chrono::milliseconds(200);
  // Ready once the stored routes and the registry's newer ones are loaded.
  while (true) {
    absl::Status s = deployments_->Restore();
    if (s.ok()) s = deployments_->Sync().status();
    if (s.ok()) break;
    LogWarning("deployments not loaded yet; retrying",
               {{"error", std::string(s.message())},
                {"retry_ms", StrCat(wait.count())}});
    if (!loop.Wait(wait)) return;
    wait = std::min(wait * 2, std::chrono::milliseconds(30000));
  }
  ReportHealth(kScoringService, true);
  ReportHealth(kInferenceService, true);
  LogInfo("scoring is ready",
          {{"routes", StrCat(deployments_->List().routes_size())}});
  // Then follow the routes changed through other replicas.
  if (options_.route_sync.count() <= 0) return;
  while (loop.Wait(options_.route_sync)) {
    if (auto s = deployments_->Sync(); !s.ok())
      LogWarning("cannot sync routes from the registry",
                 {{"error", std::string(s.status().message())}});
  }
}

void ScoreModule::OnStop() {
  if (predictor_) predictor_->Stop();  // New Predict calls: UNAVAILABLE.
  // What is not shipped stays in the prediction log for the next start (calls
  // still drained at shutdown are logged there too).
  if (logger_) logger_->Stop();
  if (sink_) sink_->Stop();
}

const host::ModuleDef& ScoreModuleDef() {
  static const auto* def = new host::ModuleDef{
      "score",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        return ScoreModule::Open(env, OptionsFromFlags());
      }};
  return *def;
}

}  // namespace mlpipe::score
