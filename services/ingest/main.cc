// mlpipe-ingest: the ingestion service alone.
#include "services/modules.h"

int main(int argc, char** argv) {
  return mlpipe::host::ServerMain(argc, argv, "mlpipe-ingest",
                                  "The mlpipe ingestion service.",
                                  {mlpipe::ingest::IngestModuleDef()});
}
