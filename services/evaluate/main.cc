// mlpipe-evaluate: the evaluation service alone; reads models from
// --train_address, splits from --split_address, rows from --prep_address
// (and raw rows from --ingest_address for a baseline of an earlier dataset
// version).
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/evaluate/evaluate_module.h"
#include "services/host/flags.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(argc, argv, "The mlpipe evaluation service.");
  auto module = mlpipe::evaluate::EvaluateModule::Open(
      absl::GetFlag(FLAGS_data_dir),
      {.train_address = absl::GetFlag(FLAGS_train_address),
       .split_address = absl::GetFlag(FLAGS_split_address),
       .prep_address = absl::GetFlag(FLAGS_prep_address),
       .ingest_address = absl::GetFlag(FLAGS_ingest_address)});
  if (!module.ok()) {
    mlpipe::LogError("cannot open the evaluate store",
                     {{"error", std::string(module.status().message())}});
    return 1;
  }
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;
  modules.push_back(std::move(*module));
  return mlpipe::host::RunHost("mlpipe-evaluate",
                               mlpipe::host::HostOptionsFromFlags(),
                               std::move(modules));
}
