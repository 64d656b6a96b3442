// The command-line flags every mlpipe server binary shares.
#ifndef MLPIPE_SERVICES_HOST_FLAGS_H_
#define MLPIPE_SERVICES_HOST_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "services/host/host.h"

ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, import_root);
ABSL_DECLARE_FLAG(std::string, ingest_address);
ABSL_DECLARE_FLAG(std::string, prep_address);
ABSL_DECLARE_FLAG(std::string, split_address);
ABSL_DECLARE_FLAG(std::string, train_address);
ABSL_DECLARE_FLAG(std::string, evaluate_address);
ABSL_DECLARE_FLAG(std::string, score_address);
ABSL_DECLARE_FLAG(std::string, monitor_address);
ABSL_DECLARE_FLAG(std::string, orchestrator_address);

namespace mlpipe::host {

// Parses argv (exits with usage on bad flags) after blocking termination
// signals, so it must be the first thing main() does.
void InitServerProcess(int argc, char** argv, const char* usage);

// --bind, --grpc_port, --metrics_port, --port_file, --drain_seconds.
HostOptions HostOptionsFromFlags();

}  // namespace mlpipe::host

#endif  // MLPIPE_SERVICES_HOST_FLAGS_H_
