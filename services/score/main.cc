// mlpipe-score: the scoring service alone; models from --train_address,
// online features and feature sets from --prep_address, datasets from
// --ingest_address, the model registry at --orchestrator_address, the
// prediction log to --monitor_address.
#include "services/modules.h"

int main(int argc, char** argv) {
  return mlpipe::host::ServerMain(argc, argv, "mlpipe-score",
                                  "The mlpipe scoring service.",
                                  {mlpipe::score::ScoreModuleDef()});
}
