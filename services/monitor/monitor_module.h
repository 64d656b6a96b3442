// The monitoring service with the state it owns: its RocksDB store under
// <data_dir>/monitor, its outbox, its operations and the gRPC adapter. It
// follows the model registry (the orchestrator's aliases, where every
// scoring replica publishes its routes): every version a route serves or
// shadows gets its reference, built from the model's data (models from
// train, splits from split, rows from ingest). A performance alert whose
// policy asks for it rolls the alias back through the scoring service
// (which records it in the route history and the registry's alias history).
// Canary rollouts (rollouts.h) are checked every second and their routes
// set through the scoring service (rollout_driver.h).
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_MODULE_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_MODULE_H_

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "services/host/module.h"
#include "services/monitor/monitor.h"
#include "services/monitor/rollouts.h"

namespace mlpipe::monitor {

struct MonitorModuleOptions {
  MonitorOptions monitor;
  // Set references of deployed versions, looking at the registry this often
  // (0: never).
  std::chrono::milliseconds follow_deployments{500};
};

// Reads the --monitor_* flags.
MonitorModuleOptions MonitorOptionsFromFlags();

class MonitorModule final : public host::Module {
 public:
  static absl::StatusOr<std::unique_ptr<MonitorModule>> Open(
      const host::ModuleEnv& env, MonitorModuleOptions options);
  ~MonitorModule() override;

  Monitor* monitor() { return monitor_; }

 private:
  explicit MonitorModule(const host::ModuleEnv& env) : Module("monitor", env) {}
  absl::Status OnStart() override;
  void OnStop() override;
  // Starts building the reference of every deployed version without one.
  absl::Status FollowDeployments();
  // Rolls back what performance alerts ask for, one at a time.
  void ActionLoop(util::BackgroundLoop& loop);
  void Act(const v1::Alert& alert, util::BackgroundLoop& loop);

  MonitorModuleOptions options_;
  Monitor* monitor_ = nullptr;
  util::BackgroundLoop* action_loop_ = nullptr;
  Rollouts* rollouts_ = nullptr;
  util::BackgroundLoop* rollout_loop_ = nullptr;
  std::set<std::string> referenced_;  // Versions handled. Follow loop only.
  std::mutex mu_;
  std::deque<v1::Alert> actions_;  // GUARDED_BY(mu_)
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_MODULE_H_
