// mlpipe-monitor: the monitoring service alone; models from --train_address,
// splits from --split_address, rows from --ingest_address, routes from the
// registry at --orchestrator_address, rollbacks through --score_address.
#include "services/modules.h"

int main(int argc, char** argv) {
  return mlpipe::host::ServerMain(argc, argv, "mlpipe-monitor",
                                  "The mlpipe monitoring service.",
                                  {mlpipe::monitor::MonitorModuleDef()});
}
