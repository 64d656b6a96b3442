// The split service with the state it owns: its RocksDB store under
// <data_dir>/split, its outbox, its operations and the gRPC adapter. It
// reads rows from prep (feature sets) and ingest (dataset versions), in this
// process or at --prep_address / --ingest_address.
#ifndef MLPIPE_SERVICES_SPLIT_SPLIT_MODULE_H_
#define MLPIPE_SERVICES_SPLIT_SPLIT_MODULE_H_

#include <memory>
#include <mutex>
#include <string>

#include "services/host/host.h"
#include "services/split/splitter.h"

namespace mlpipe::split {

struct SplitModuleOptions {
  std::string ingest_address;  // Empty: this process.
  std::string prep_address;    // Empty: this process.
  SplitterOptions splitter;
};

class SplitModule final : public host::ServiceModule {
 public:
  static absl::StatusOr<std::unique_ptr<SplitModule>> Open(
      const std::string& data_dir, SplitModuleOptions options);
  ~SplitModule() override;

  std::string name() const override { return "split"; }
  std::vector<grpc::Service*> services() override { return {service_.get()}; }
  events::EventLog* event_log() override { return log_.get(); }
  ops::OperationManager* operations() override { return ops_.get(); }
  absl::Status Start(std::shared_ptr<grpc::Channel> self) override;
  void Stop() override;

 private:
  class GrpcData;
  SplitModule() = default;

  SplitModuleOptions options_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<GrpcData> data_;
  std::unique_ptr<Splitter> splitter_;
  std::unique_ptr<ops::OperationManager> ops_;
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace mlpipe::split

#endif  // MLPIPE_SERVICES_SPLIT_SPLIT_MODULE_H_
