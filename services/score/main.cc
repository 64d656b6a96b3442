// mlpipe-score: the scoring service alone; models from --train_address,
// online features and feature sets from --prep_address, datasets from
// --ingest_address, the model registry at --orchestrator_address.
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/host/flags.h"
#include "services/score/score_flags.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(argc, argv, "The mlpipe scoring service.");
  auto module = mlpipe::score::ScoreModule::Open(
      absl::GetFlag(FLAGS_data_dir), mlpipe::score::ScoreOptionsFromFlags());
  if (!module.ok()) {
    mlpipe::LogError("cannot open the score store",
                     {{"error", std::string(module.status().message())}});
    return 1;
  }
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;
  modules.push_back(std::move(*module));
  return mlpipe::host::RunHost(
      "mlpipe-score", mlpipe::host::HostOptionsFromFlags(), std::move(modules));
}
