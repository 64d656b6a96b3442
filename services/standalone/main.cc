// mlpipe-standalone: every mlpipe service in one process, on one gRPC port and
// one metrics port, each service with its own RocksDB store under --data_dir.
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/evaluate/evaluate_module.h"
#include "services/host/flags.h"
#include "services/ingest/ingest_module.h"
#include "services/monitor/monitor_module.h"
#include "services/orchestrator/orchestrator_module.h"
#include "services/prep/prep_module.h"
#include "services/score/score_flags.h"
#include "services/split/split_module.h"
#include "services/train/train_flags.h"
#include "services/train/train_module.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(
      argc, argv, "mlpipe in one process: every service, one port.");
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;

  mlpipe::ingest::IngestorOptions ingest;
  ingest.import_root = absl::GetFlag(FLAGS_import_root);
  auto ingest_module =
      mlpipe::ingest::IngestModule::Open(data_dir, std::move(ingest));
  if (!ingest_module.ok()) {
    mlpipe::LogError(
        "cannot open the ingest store",
        {{"error", std::string(ingest_module.status().message())}});
    return 1;
  }
  modules.push_back(std::move(*ingest_module));

  auto prep_module = mlpipe::prep::PrepModule::Open(data_dir);
  if (!prep_module.ok()) {
    mlpipe::LogError("cannot open the prep store",
                     {{"error", std::string(prep_module.status().message())}});
    return 1;
  }
  modules.push_back(std::move(*prep_module));

  auto split_module = mlpipe::split::SplitModule::Open(data_dir, {});
  if (!split_module.ok()) {
    mlpipe::LogError("cannot open the split store",
                     {{"error", std::string(split_module.status().message())}});
    return 1;
  }
  modules.push_back(std::move(*split_module));

  auto train_module = mlpipe::train::TrainModule::Open(
      data_dir, mlpipe::train::TrainOptionsFromFlags());
  if (!train_module.ok()) {
    mlpipe::LogError("cannot open the train store",
                     {{"error", std::string(train_module.status().message())}});
    return 1;
  }
  modules.push_back(std::move(*train_module));

  auto evaluate_module = mlpipe::evaluate::EvaluateModule::Open(data_dir, {});
  if (!evaluate_module.ok()) {
    mlpipe::LogError(
        "cannot open the evaluate store",
        {{"error", std::string(evaluate_module.status().message())}});
    return 1;
  }
  modules.push_back(std::move(*evaluate_module));

  auto score_module = mlpipe::score::ScoreModule::Open(
      data_dir, mlpipe::score::ScoreOptionsFromFlags());
  if (!score_module.ok()) {
    mlpipe::LogError("cannot open the score store",
                     {{"error", std::string(score_module.status().message())}});
    return 1;
  }
  modules.push_back(std::move(*score_module));

  auto monitor_module = mlpipe::monitor::MonitorModule::Open(
      data_dir, mlpipe::monitor::MonitorOptionsFromFlags());
  if (!monitor_module.ok()) {
    mlpipe::LogError(
        "cannot open the monitor store",
        {{"error", std::string(monitor_module.status().message())}});
    return 1;
  }
  modules.push_back(std::move(*monitor_module));

  auto orchestrator_module = mlpipe::orchestrator::OrchestratorModule::Open(
      data_dir, mlpipe::orchestrator::OrchestratorOptionsFromFlags());
  if (!orchestrator_module.ok()) {
    mlpipe::LogError(
        "cannot open the orchestrator store",
        {{"error", std::string(orchestrator_module.status().message())}});
    return 1;
  }
  modules.push_back(std::move(*orchestrator_module));

  return mlpipe::host::RunHost("mlpipe-standalone",
                               mlpipe::host::HostOptionsFromFlags(),
                               std::move(modules));
}
