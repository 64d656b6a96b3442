// The evaluation service with the state it owns: its RocksDB store under
// <data_dir>/evaluate, its outbox, its operations and the gRPC adapter. It
// reads models from train, splits from split and rows from prep, in this
// process or at --train_address / --split_address / --prep_address.
#ifndef MLPIPE_SERVICES_EVALUATE_EVALUATE_MODULE_H_
#define MLPIPE_SERVICES_EVALUATE_EVALUATE_MODULE_H_

#include <memory>
#include <string>

#include "services/evaluate/evaluator.h"
#include "services/host/host.h"

namespace mlpipe::evaluate {

struct EvaluateModuleOptions {
  std::string train_address;   // Empty: this process.
  std::string split_address;   // Empty: this process.
  std::string prep_address;    // Empty: this process.
  std::string ingest_address;  // Empty: this process.
  EvaluatorOptions evaluator;
};

class EvaluateModule final : public host::ServiceModule {
 public:
  static absl::StatusOr<std::unique_ptr<EvaluateModule>> Open(
      const std::string& data_dir, EvaluateModuleOptions options);
  ~EvaluateModule() override;

  std::string name() const override { return "evaluate"; }
  std::vector<grpc::Service*> services() override { return {service_.get()}; }
  events::EventLog* event_log() override { return log_.get(); }
  ops::OperationManager* operations() override { return ops_.get(); }
  absl::Status Start(std::shared_ptr<grpc::Channel> self) override;
  void Stop() override;

 private:
  class GrpcSources;
  EvaluateModule() = default;

  EvaluateModuleOptions options_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<GrpcSources> sources_;
  std::unique_ptr<Evaluator> evaluator_;
  std::unique_ptr<ops::OperationManager> ops_;
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace mlpipe::evaluate

#endif  // MLPIPE_SERVICES_EVALUATE_EVALUATE_MODULE_H_
