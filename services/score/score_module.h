// The scoring service with the state it owns: its RocksDB store under
// <data_dir>/score (deployments, batch results),
// its outbox, its operations and the gRPC adapters (mlpipe.v1.Scoring and
// inference.GRPCInferenceService). Models come from train, online features
// and feature sets from prep, datasets from ingest, and aliases are
// mirrored into the orchestrator's registry - in this process or at the
// --*_address flags. At start it loads what was deployed before; its
// services report NOT_SERVING on grpc.health.v1 until then.
#ifndef MLPIPE_SERVICES_SCORE_SCORE_MODULE_H_
#define MLPIPE_SERVICES_SCORE_SCORE_MODULE_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "services/host/host.h"
#include "services/score/batch_scorer.h"
#include "services/score/deployments.h"
#include "services/score/prediction_log.h"
#include "services/score/predictor.h"

namespace mlpipe::score {

struct ScoreModuleOptions {
  std::string train_address;         // Empty: this process.
  std::string prep_address;          // Empty: this process.
  std::string ingest_address;        // Empty: this process.
  std::string orchestrator_address;  // Empty: this process.
  std::string monitor_address;       // Empty: this process.
  std::string default_alias = "production";
  // How often routes changed through other replicas are taken from the
  // registry; 0: never.
  std::chrono::milliseconds route_sync{1000};
  PredictorOptions predictor;
  PredictionLoggerOptions log;
  BatchScorerOptions batch;
};

class ScoreModule final : public host::ServiceModule {
 public:
  static absl::StatusOr<std::unique_ptr<ScoreModule>> Open(
      const std::string& data_dir, ScoreModuleOptions options);
  ~ScoreModule() override;

  std::string name() const override { return "score"; }
  std::vector<grpc::Service*> services() override;
  events::EventLog* event_log() override { return log_.get(); }
  ops::OperationManager* operations() override { return ops_.get(); }
  void SetHealthReporter(HealthReporter report) override {
    health_ = std::move(report);
  }
  absl::Status Start(std::shared_ptr<grpc::Channel> self) override;
  void Stop() override;

  // For tests.
  Deployments* deployments() { return deployments_.get(); }
  PredictionLogger* prediction_logger() { return logger_.get(); }

 private:
  class GrpcSources;
  class MonitorSink;
  ScoreModule() = default;
  // Restores and syncs the deployments (then reports SERVING), then syncs
  // them every options_.route_sync.
  void RestoreLoop();
  // Waits `d`; true when stopping.
  bool Pause(std::chrono::milliseconds d);

  ScoreModuleOptions options_;
  HealthReporter health_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<GrpcSources> sources_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<Deployments> deployments_;
  std::unique_ptr<MonitorSink> sink_;
  std::unique_ptr<PredictionLogger> logger_;
  std::unique_ptr<Predictor> predictor_;
  std::unique_ptr<BatchScorer> batch_;
  std::unique_ptr<ops::OperationManager> ops_;
  std::unique_ptr<grpc::Service> scoring_, inference_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  std::thread restore_;
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_SCORE_MODULE_H_
