// The ingestion service with the state it owns: its RocksDB store under
// <data_dir>/ingest, its outbox and the gRPC adapter.
#ifndef MLPIPE_SERVICES_INGEST_INGEST_MODULE_H_
#define MLPIPE_SERVICES_INGEST_INGEST_MODULE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "services/host/module.h"
#include "services/ingest/ingestor.h"
#include "services/ingest/pusher.h"

namespace mlpipe::ingest {

class IngestModule final : public host::Module {
 public:
  static absl::StatusOr<std::unique_ptr<IngestModule>> Open(
      const host::ModuleEnv& env, IngestorOptions options,
      PushOptions push = {});

  Ingestor* ingestor() { return ingestor_; }
  Pusher* pusher() { return pusher_; }

 private:
  explicit IngestModule(const host::ModuleEnv& env) : Module("ingest", env) {}
  // Commits what is pushed and ends the push streams.
  void OnStop() override;
  Ingestor* ingestor_ = nullptr;
  Pusher* pusher_ = nullptr;
};

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_INGEST_MODULE_H_
