// The split service with the state it owns: its RocksDB store under
// <data_dir>/split, its outbox, its operations and the gRPC adapter. It
// reads rows from prep (feature sets) and ingest (dataset versions), in this
// process or where the peers say.
#ifndef MLPIPE_SERVICES_SPLIT_SPLIT_MODULE_H_
#define MLPIPE_SERVICES_SPLIT_SPLIT_MODULE_H_

#include <memory>

#include "services/host/module.h"
#include "services/split/splitter.h"

namespace mlpipe::split {

struct SplitModuleOptions {
  SplitterOptions splitter;
};

class SplitModule final : public host::Module {
 public:
  static absl::StatusOr<std::unique_ptr<SplitModule>> Open(
      const host::ModuleEnv& env, SplitModuleOptions options);

 private:
  explicit SplitModule(const host::ModuleEnv& env) : Module("split", env) {}
};

}  // namespace mlpipe::split

#endif  // MLPIPE_SERVICES_SPLIT_SPLIT_MODULE_H_
