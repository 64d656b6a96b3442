// The monitoring service with the state it owns: its RocksDB store under
// <data_dir>/monitor, its outbox, its operations and the gRPC adapter. It
// follows the model registry (the orchestrator's aliases, where every
// scoring replica publishes its routes): every version a route serves or
// shadows gets its reference, built from the model's data (models from
// train, splits from split, rows from ingest). A performance alert whose policy
// asks for it rolls the alias back through the scoring service (which
// records it in the route history and the registry's alias history).
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_MODULE_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_MODULE_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "services/host/host.h"
#include "services/monitor/monitor.h"

namespace mlpipe::monitor {

struct MonitorModuleOptions {
  std::string train_address;         // Empty: this process.
  std::string split_address;         // Empty: this process.
  std::string ingest_address;        // Empty: this process.
  std::string score_address;         // Empty: this process.
  std::string orchestrator_address;  // Empty: this process.
  MonitorOptions monitor;
  // Set references of deployed versions, looking at the registry this often
  // (0: never).
  std::chrono::milliseconds follow_deployments{500};
};

// Reads the --monitor_* flags and the service addresses.
MonitorModuleOptions MonitorOptionsFromFlags();

class MonitorModule final : public host::ServiceModule {
 public:
  static absl::StatusOr<std::unique_ptr<MonitorModule>> Open(
      const std::string& data_dir, MonitorModuleOptions options);
  ~MonitorModule() override;

  std::string name() const override { return "monitor"; }
  std::vector<grpc::Service*> services() override { return {service_.get()}; }
  events::EventLog* event_log() override { return log_.get(); }
  ops::OperationManager* operations() override { return ops_.get(); }
  absl::Status Start(std::shared_ptr<grpc::Channel> self) override;
  void Stop() override;

  Monitor* monitor() { return monitor_.get(); }

 private:
  class GrpcSources;
  MonitorModule() = default;
  // Starts building the reference of every deployed version without one.
  absl::Status FollowDeployments();
  void FollowLoop();
  // Rolls back what performance alerts ask for, one at a time.
  void ActionLoop();
  void Act(const v1::Alert& alert);

  MonitorModuleOptions options_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<GrpcSources> sources_;
  std::unique_ptr<Monitor> monitor_;
  std::unique_ptr<ops::OperationManager> ops_;
  std::unique_ptr<grpc::Service> service_;
  std::thread follow_thread_;
  std::set<std::string> referenced_;  // Versions handled. Follow thread only.
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<v1::Alert> actions_;  // GUARDED_BY(mu_)
  bool stopping_ = false;          // GUARDED_BY(mu_)
  std::thread action_thread_;
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_MODULE_H_
