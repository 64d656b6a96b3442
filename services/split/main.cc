// mlpipe-split: the split service alone; reads rows from --prep_address and
// --ingest_address.
#include "services/modules.h"

int main(int argc, char** argv) {
  return mlpipe::host::ServerMain(argc, argv, "mlpipe-split",
                                  "The mlpipe split service.",
                                  {mlpipe::split::SplitModuleDef()});
}
