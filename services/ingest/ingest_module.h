// The ingestion service with the state it owns: its RocksDB store under
// <data_dir>/ingest, its outbox and the gRPC adapter.
#ifndef MLPIPE_SERVICES_INGEST_INGEST_MODULE_H_
#define MLPIPE_SERVICES_INGEST_INGEST_MODULE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "services/host/host.h"
#include "services/ingest/ingestor.h"

namespace mlpipe::ingest {

class IngestModule final : public host::ServiceModule {
 public:
  static absl::StatusOr<std::unique_ptr<IngestModule>> Open(
      const std::string& data_dir, IngestorOptions options);
  ~IngestModule() override;

  std::string name() const override { return "ingest"; }
  std::vector<grpc::Service*> services() override;
  events::EventLog* event_log() override { return log_.get(); }
  Ingestor* ingestor() { return ingestor_.get(); }

 private:
  IngestModule() = default;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<grpc::Service> service_;
};

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_INGEST_MODULE_H_
