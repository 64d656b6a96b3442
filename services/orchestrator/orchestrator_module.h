// The orchestrator with the state it owns: its RocksDB store under
// <data_dir>/orchestrator, its outbox, its step executors and gRPC adapter.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_MODULE_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_MODULE_H_

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "common/events/subscriber.h"
#include "grpcpp/client_context.h"
#include "services/host/host.h"
#include "services/orchestrator/orchestrator.h"

namespace mlpipe::orchestrator {

struct OrchestratorModuleOptions {
  OrchestratorOptions engine;
  // Where the ingestion service is ("host:port"); empty: this process.
  std::string ingest_address;
  // Where the data-prep service is; empty: this process.
  std::string prep_address;
  // Where the split service is; empty: this process.
  std::string split_address;
  // Where the train service is; empty: this process.
  std::string train_address;
  std::string evaluate_address;
  std::string score_address;
  std::string monitor_address;
  // Register the test-only step types (sleep, fail, record, noop).
  bool enable_test_steps = false;
};

// Reads --ingest_address, --max_parallel_steps, --enable_test_steps.
OrchestratorModuleOptions OrchestratorOptionsFromFlags();

class OrchestratorModule final : public host::ServiceModule {
 public:
  static absl::StatusOr<std::unique_ptr<OrchestratorModule>> Open(
      const std::string& data_dir, OrchestratorModuleOptions options);
  ~OrchestratorModule() override;

  std::string name() const override { return "orchestrator"; }
  std::vector<grpc::Service*> services() override { return {service_.get()}; }
  events::EventLog* event_log() override { return log_.get(); }
  absl::Status Start(std::shared_ptr<grpc::Channel> self) override;
  void Stop() override;

 private:
  OrchestratorModule() = default;
  std::shared_ptr<grpc::Channel> IngestChannel();
  // The channel to the service that emits `source`'s events.
  std::shared_ptr<grpc::Channel> ChannelFor(const std::string& source);
  // Fires due schedules every second and starts a subscriber per event
  // source that triggers listen to.
  void TriggerLoop();
  // Follows `source`'s outbox from the stored cursor; reconnects on failure.
  // Waits up to `d`; false when stopping.
  bool Pause(absl::Duration d);

  OrchestratorModuleOptions options_;
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> ingest_channel_;    // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> self_;              // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> prep_channel_;      // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> split_channel_;     // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> train_channel_;     // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> evaluate_channel_;  // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> score_channel_;     // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> monitor_channel_;   // GUARDED_BY(mu_)
  bool stopping_ = false;                            // GUARDED_BY(mu_)
  std::condition_variable wake_;
  std::thread trigger_thread_;
  std::map<std::string, std::unique_ptr<events::Subscriber>>
      subscribers_;  // Touched by TriggerLoop only.
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  ExecutorRegistry executors_;
  std::unique_ptr<Orchestrator> orchestrator_;
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_MODULE_H_
