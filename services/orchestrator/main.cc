// mlpipe-orchestrator: the orchestrator alone; the other services where the
// --*_address flags say.
#include "services/modules.h"

int main(int argc, char** argv) {
  return mlpipe::host::ServerMain(
      argc, argv, "mlpipe-orchestrator", "The mlpipe orchestrator.",
      {mlpipe::orchestrator::OrchestratorModuleDef()});
}
