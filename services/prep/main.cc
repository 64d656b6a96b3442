// mlpipe-prep: the data-prep service alone; reads data from --ingest_address
// and split parts from --split_address.
#include "services/modules.h"

int main(int argc, char** argv) {
  return mlpipe::host::ServerMain(argc, argv, "mlpipe-prep",
                                  "The mlpipe data-prep service.",
                                  {mlpipe::prep::PrepModuleDef()});
}
