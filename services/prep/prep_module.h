// The data-prep service with the state it owns: its RocksDB store under
// <data_dir>/prep, its outbox, and the gRPC adapter. It reads datasets from
// the ingestion service (in this process, or --ingest_address).
#ifndef MLPIPE_SERVICES_PREP_PREP_MODULE_H_
#define MLPIPE_SERVICES_PREP_PREP_MODULE_H_

#include <memory>
#include <mutex>
#include <string>

#include "common/events/subscriber.h"
#include "services/host/host.h"
#include "services/prep/preparer.h"

namespace mlpipe::prep {

struct PrepModuleOptions {
  std::string ingest_address;  // Empty: the ingestion service in this process.
  std::string split_address;   // Empty: the split service in this process.
  PreparerOptions preparer;
};

class PrepModule final : public host::ServiceModule {
 public:
  static absl::StatusOr<std::unique_ptr<PrepModule>> Open(
      const std::string& data_dir, PrepModuleOptions options = {});
  ~PrepModule() override;

  std::string name() const override { return "prep"; }
  std::vector<grpc::Service*> services() override { return {service_.get()}; }
  events::EventLog* event_log() override { return log_.get(); }
  ops::OperationManager* operations() override { return ops_.get(); }
  // Resumes interrupted operations and follows ingest's events (new
  // versions refresh the online store).
  absl::Status Start(std::shared_ptr<grpc::Channel> self) override;
  void Stop() override;

 private:
  PrepModule() = default;
  std::shared_ptr<grpc::Channel> IngestChannel();
  std::shared_ptr<grpc::Channel> SplitChannel();
  // The rows of a split's part (Preparer's SplitPartRows), from the split
  // service.
  absl::StatusOr<std::vector<uint8_t>> SplitPart(const std::string& split,
                                                 const std::string& part,
                                                 const std::string& dataset,
                                                 int64_t version);

  std::string ingest_address_, split_address_;
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> ingest_channel_;  // GUARDED_BY(mu_)
  std::shared_ptr<grpc::Channel> split_channel_;   // GUARDED_BY(mu_)
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<OnlineStore> online_;
  std::unique_ptr<Preparer> preparer_;
  std::unique_ptr<ops::OperationManager> ops_;
  std::unique_ptr<events::Subscriber> ingest_events_;
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PREP_MODULE_H_
