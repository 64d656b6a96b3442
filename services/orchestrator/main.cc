// mlpipe-orchestrator: the orchestrator alone; other services by address.
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/host/flags.h"
#include "services/orchestrator/orchestrator_module.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(argc, argv, "The mlpipe orchestrator.");
  auto module = mlpipe::orchestrator::OrchestratorModule::Open(
      absl::GetFlag(FLAGS_data_dir),
      mlpipe::orchestrator::OrchestratorOptionsFromFlags());
  if (!module.ok()) {
    mlpipe::LogError("cannot open the orchestrator store",
                     {{"error", std::string(module.status().message())}});
    return 1;
  }
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;
  modules.push_back(std::move(*module));
  return mlpipe::host::RunHost("mlpipe-orchestrator",
                               mlpipe::host::HostOptionsFromFlags(),
                               std::move(modules));
}
