// The train service with the state it owns: its RocksDB store under
// <data_dir>/train, its outbox, its operations and the gRPC adapter. It
// reads split parts from the split service and transforms from prep, in
// this process or at --split_address / --prep_address; with replicas
// configured, it spreads trials over them (TrainTrial, round robin).
#ifndef MLPIPE_SERVICES_TRAIN_TRAIN_MODULE_H_
#define MLPIPE_SERVICES_TRAIN_TRAIN_MODULE_H_

#include <memory>
#include <string>

#include "services/host/host.h"
#include "services/train/trainer.h"

namespace mlpipe::train {

struct TrainModuleOptions {
  std::string split_address;  // Empty: this process.
  std::string prep_address;   // Empty: this process.
  // Train replicas that run trials: "ipv4:a:p,b:p" or "dns:///name:port"
  // (round robin). Empty: trials run in this process.
  std::string replicas;
  // Training jobs run at once. Default 1.
  int parallel_jobs = 1;
  TrainerOptions trainer;
};

class TrainModule final : public host::ServiceModule {
 public:
  static absl::StatusOr<std::unique_ptr<TrainModule>> Open(
      const std::string& data_dir, TrainModuleOptions options);
  ~TrainModule() override;

  std::string name() const override { return "train"; }
  std::vector<grpc::Service*> services() override { return {service_.get()}; }
  events::EventLog* event_log() override { return log_.get(); }
  ops::OperationManager* operations() override { return ops_.get(); }
  absl::Status Start(std::shared_ptr<grpc::Channel> self) override;
  void Stop() override;

 private:
  class GrpcSources;
  class RemoteTrials;
  TrainModule() = default;

  TrainModuleOptions options_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<GrpcSources> sources_;
  std::unique_ptr<RemoteTrials> replicas_;
  std::unique_ptr<Trainer> trainer_;
  std::unique_ptr<ops::OperationManager> ops_;
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace mlpipe::train

#endif  // MLPIPE_SERVICES_TRAIN_TRAIN_MODULE_H_
