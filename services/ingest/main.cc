// mlpipe-ingest: the ingestion service alone.
#include "absl/flags/flag.h"
#include "common/util/log.h"
#include "services/host/flags.h"
#include "services/ingest/ingest_module.h"

int main(int argc, char** argv) {
  mlpipe::host::InitServerProcess(argc, argv, "The mlpipe ingestion service.");
  mlpipe::ingest::IngestorOptions options;
  options.import_root = absl::GetFlag(FLAGS_import_root);
  auto module = mlpipe::ingest::IngestModule::Open(
      absl::GetFlag(FLAGS_data_dir), std::move(options));
  if (!module.ok()) {
    mlpipe::LogError("cannot open the ingest store",
                     {{"error", std::string(module.status().message())}});
    return 1;
  }
  std::vector<std::unique_ptr<mlpipe::host::ServiceModule>> modules;
  modules.push_back(std::move(*module));
  return mlpipe::host::RunHost("mlpipe-ingest",
                               mlpipe::host::HostOptionsFromFlags(),
                               std::move(modules));
}
