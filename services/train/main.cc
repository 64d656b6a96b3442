// mlpipe-train: the training service alone; reads split parts from
// --split_address and transforms from --prep_address.
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/host/flags.h"
#include "services/train/train_flags.h"
#include "services/train/train_module.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(argc, argv, "The mlpipe training service.");
  mlpipe::train::TrainModuleOptions options =
      mlpipe::train::TrainOptionsFromFlags();
  options.split_address = absl::GetFlag(FLAGS_split_address);
  options.prep_address = absl::GetFlag(FLAGS_prep_address);
  auto module =
      mlpipe::train::TrainModule::Open(absl::GetFlag(FLAGS_data_dir), options);
  if (!module.ok()) {
    mlpipe::LogError("cannot open the train store",
                     {{"error", std::string(module.status().message())}});
    return 1;
  }
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;
  modules.push_back(std::move(*module));
  return mlpipe::host::RunHost(
      "mlpipe-train", mlpipe::host::HostOptionsFromFlags(), std::move(modules));
}
