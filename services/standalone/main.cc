// mlpipe-standalone: every mlpipe service in one process, on one gRPC port and
// one metrics port, each service with its own RocksDB store under --data_dir.
#include "services/modules.h"

int main(int argc, char** argv) {
  using namespace mlpipe;  // NOLINT(build/namespaces): the module list.
  return host::ServerMain(
      argc, argv, "mlpipe-standalone",
      "mlpipe in one process: every service, one port.",
      {ingest::IngestModuleDef(), prep::PrepModuleDef(),
       split::SplitModuleDef(), train::TrainModuleDef(),
       evaluate::EvaluateModuleDef(), score::ScoreModuleDef(),
       monitor::MonitorModuleDef(), orchestrator::OrchestratorModuleDef()});
}
