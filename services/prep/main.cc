// mlpipe-prep: the data-prep service alone; reads data from --ingest_address.
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/host/flags.h"
#include "services/prep/prep_module.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(argc, argv, "The mlpipe data-prep service.");
  auto module = mlpipe::prep::PrepModule::Open(
      absl::GetFlag(FLAGS_data_dir),
      {.ingest_address = absl::GetFlag(FLAGS_ingest_address),
       .split_address = absl::GetFlag(FLAGS_split_address)});
  if (!module.ok()) {
    mlpipe::LogError("cannot open the prep store",
                     {{"error", std::string(module.status().message())}});
    return 1;
  }
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;
  modules.push_back(std::move(*module));
  return mlpipe::host::RunHost(
      "mlpipe-prep", mlpipe::host::HostOptionsFromFlags(), std::move(modules));
}
