// mlpipe-monitor: the monitoring service alone; follows the deployments in
// the registry at --orchestrator_address, reads models from --train_address,
// splits from --split_address and rows from --ingest_address, and rolls
// aliases back through --score_address.
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/host/flags.h"
#include "services/monitor/monitor_module.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(argc, argv, "The mlpipe monitoring service.");
  auto module = mlpipe::monitor::MonitorModule::Open(
      absl::GetFlag(FLAGS_data_dir),
      mlpipe::monitor::MonitorOptionsFromFlags());
  if (!module.ok()) {
    mlpipe::LogError("cannot open the monitor store",
                     {{"error", std::string(module.status().message())}});
    return 1;
  }
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;
  modules.push_back(std::move(*module));
  return mlpipe::host::RunHost("mlpipe-monitor",
                               mlpipe::host::HostOptionsFromFlags(),
                               std::move(modules));
}
