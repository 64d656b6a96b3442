// The scoring service with the state it owns: its RocksDB store under
// <data_dir>/score (deployments, batch results), its outbox, its operations
// and the gRPC adapters (mlpipe.v1.Scoring and
// inference.GRPCInferenceService). Models come from train, online features
// and feature sets from prep, datasets from ingest; routes are published in
// the orchestrator's registry and predictions logged to the monitor - in
// this process or where the peers say. At start it loads what was deployed
// before; its services report NOT_SERVING on grpc.health.v1 until then.
#ifndef MLPIPE_SERVICES_SCORE_SCORE_MODULE_H_
#define MLPIPE_SERVICES_SCORE_SCORE_MODULE_H_

#include <chrono>
#include <memory>
#include <string>

#include "common/redis/online_redis.h"
#include "services/host/module.h"
#include "services/score/batch_scorer.h"
#include "services/score/deployments.h"
#include "services/score/prediction_log.h"
#include "services/score/predictor.h"

namespace mlpipe::score {

struct ScoreModuleOptions {
  std::string default_alias = "production";
  // How often routes changed through other replicas are taken from the
  // registry; 0: never.
  std::chrono::milliseconds route_sync{1000};
  PredictorOptions predictor;
  PredictionLoggerOptions log;
  BatchScorerOptions batch;
  // Entity keys are looked up in Redis directly when it is one; otherwise
  // through the prep service.
  redis::OnlineStoreConfig online_store;
};

class ScoreModule final : public host::Module {
 public:
  static absl::StatusOr<std::unique_ptr<ScoreModule>> Open(
      const host::ModuleEnv& env, ScoreModuleOptions options);
  ~ScoreModule() override;

  // For tests.
  Deployments* deployments() { return deployments_; }
  PredictionLogger* prediction_logger() { return logger_; }

 private:
  class MonitorSink;
  explicit ScoreModule(const host::ModuleEnv& env) : Module("score", env) {}
  absl::Status OnStart() override;
  void OnStop() override;
  // Restores and syncs the deployments (then reports SERVING), then syncs
  // them every options_.route_sync.
  void RestoreLoop(util::BackgroundLoop& loop);

  ScoreModuleOptions options_;
  Deployments* deployments_ = nullptr;
  MonitorSink* sink_ = nullptr;
  PredictionLogger* logger_ = nullptr;
  Predictor* predictor_ = nullptr;
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_SCORE_MODULE_H_
