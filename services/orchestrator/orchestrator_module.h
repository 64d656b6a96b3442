// The orchestrator with the state it owns: its RocksDB store under
// <data_dir>/orchestrator, its outbox, its step executors (which call the
// other services through the peers) and its gRPC adapter.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_MODULE_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_MODULE_H_

#include <map>
#include <memory>
#include <string>

#include "common/events/subscriber.h"
#include "services/host/module.h"
#include "services/orchestrator/orchestrator.h"

namespace mlpipe::orchestrator {

struct OrchestratorModuleOptions {
  OrchestratorOptions engine;
  // Register the test-only step types (sleep, fail, record, noop).
  bool enable_test_steps = false;
};

// Reads --max_parallel_steps, --enable_test_steps.
OrchestratorModuleOptions OrchestratorOptionsFromFlags();

class OrchestratorModule final : public host::Module {
 public:
  static absl::StatusOr<std::unique_ptr<OrchestratorModule>> Open(
      const host::ModuleEnv& env, OrchestratorModuleOptions options);
  ~OrchestratorModule() override;

 private:
  explicit OrchestratorModule(const host::ModuleEnv& env)
      : Module("orchestrator", env) {}
  absl::Status OnStart() override;
  void OnStop() override;
  // Fires due schedules every second and starts a subscriber per event
  // source that triggers listen to.
  void TriggerLoop(util::BackgroundLoop& loop);

  Orchestrator* orchestrator_ = nullptr;
  std::map<std::string, std::unique_ptr<events::Subscriber>>
      subscribers_;  // Touched by the trigger loop only.
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_MODULE_H_
