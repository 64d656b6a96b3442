// mlpipe-split: the split service alone; reads rows from --prep_address and
// --ingest_address.
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/host/flags.h"
#include "services/split/split_module.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(argc, argv, "The mlpipe split service.");
  auto module = mlpipe::split::SplitModule::Open(
      absl::GetFlag(FLAGS_data_dir),
      {.ingest_address = absl::GetFlag(FLAGS_ingest_address),
       .prep_address = absl::GetFlag(FLAGS_prep_address)});
  if (!module.ok()) {
    mlpipe::LogError("cannot open the split store",
                     {{"error", std::string(module.status().message())}});
    return 1;
  }
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;
  modules.push_back(std::move(*module));
  return mlpipe::host::RunHost(
      "mlpipe-split", mlpipe::host::HostOptionsFromFlags(), std::move(modules));
}
