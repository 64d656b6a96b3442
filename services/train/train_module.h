// The train service with the state it owns: its RocksDB store under
// <data_dir>/train, its outbox, its operations and the gRPC adapter. It
// reads split parts from the split service and transforms from prep, in
// this process or where the peers say; with replicas configured, it spreads
// trials over them (TrainTrial, round robin).
#ifndef MLPIPE_SERVICES_TRAIN_TRAIN_MODULE_H_
#define MLPIPE_SERVICES_TRAIN_TRAIN_MODULE_H_

#include <memory>
#include <string>

#include "services/host/module.h"
#include "services/train/trainer.h"

namespace mlpipe::train {

struct TrainModuleOptions {
  // Train replicas that run trials: "ipv4:a:p,b:p" or "dns:///name:port"
  // (round robin). Empty: trials run in this process.
  std::string replicas;
  // Training jobs run at once. Default 1.
  int parallel_jobs = 1;
  // The shard binary a replica runs a distributed trial's shard with.
  // Default: mlpipe-train-shard beside this process's binary.
  std::string shard_binary;
  TrainerOptions trainer;
};

class TrainModule final : public host::Module {
 public:
  static absl::StatusOr<std::unique_ptr<TrainModule>> Open(
      const host::ModuleEnv& env, TrainModuleOptions options);

 private:
  explicit TrainModule(const host::ModuleEnv& env) : Module("train", env) {}
};

}  // namespace mlpipe::train

#endif  // MLPIPE_SERVICES_TRAIN_TRAIN_MODULE_H_
