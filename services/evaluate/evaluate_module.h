// The evaluation service with the state it owns: its RocksDB store under
// <data_dir>/evaluate, its outbox, its operations and the gRPC adapter. It
// reads models from train, splits from split and rows from prep (raw rows
// from ingest for a baseline of an earlier dataset version), in this process
// or where the peers say.
#ifndef MLPIPE_SERVICES_EVALUATE_EVALUATE_MODULE_H_
#define MLPIPE_SERVICES_EVALUATE_EVALUATE_MODULE_H_

#include <memory>

#include "services/evaluate/evaluator.h"
#include "services/host/module.h"

namespace mlpipe::evaluate {

class EvaluateModule final : public host::Module {
 public:
  static absl::StatusOr<std::unique_ptr<EvaluateModule>> Open(
      const host::ModuleEnv& env, EvaluatorOptions options);

 private:
  explicit EvaluateModule(const host::ModuleEnv& env)
      : Module("evaluate", env) {}
};

}  // namespace mlpipe::evaluate

#endif  // MLPIPE_SERVICES_EVALUATE_EVALUATE_MODULE_H_
