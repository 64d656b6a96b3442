// mlpipe-evaluate: the evaluation service alone; reads models from
// --train_address, splits from --split_address, rows from --prep_address
// (and raw rows from --ingest_address for a baseline of an earlier dataset
// version).
#include "services/modules.h"

int main(int argc, char** argv) {
  return mlpipe::host::ServerMain(argc, argv, "mlpipe-evaluate",
                                  "The mlpipe evaluation service.",
                                  {mlpipe::evaluate::EvaluateModuleDef()});
}
