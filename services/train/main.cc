// mlpipe-train: the training service alone; reads split parts from
// --split_address and transforms from --prep_address.
#include "services/modules.h"

int main(int argc, char** argv) {
  return mlpipe::host::ServerMain(argc, argv, "mlpipe-train",
                                  "The mlpipe training service.",
                                  {mlpipe::train::TrainModuleDef()});
}
