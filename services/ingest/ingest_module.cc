#include "services/ingest/ingest_module.h"

#include "services/ingest/ingest_service.h"

namespace mlpipe::ingest {

absl::StatusOr<std::unique_ptr<IngestModule>> IngestModule::Open(
    const std::string& data_dir, IngestorOptions options) {
  std::unique_ptr<IngestModule> m(new IngestModule());
  auto store =
      storage::OpenRocksStore(data_dir + "/ingest", Ingestor::StorageOptions());
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "ingest");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  auto ingestor =
      Ingestor::Open(std::move(options), m->store_.get(), m->log_.get());
  if (!ingestor.ok()) return ingestor.status();
  m->ingestor_ = std::move(*ingestor);
  m->service_ = std::make_unique<IngestService>(m->ingestor_.get());
  return m;
}

IngestModule::~IngestModule() {
  // The service first (it waits for file ingests), then what it uses.
  service_.reset();
  ingestor_.reset();
  log_.reset();
  store_.reset();
}

std::vector<grpc::Service*> IngestModule::services() {
  return {service_.get()};
}

}  // namespace mlpipe::ingest
