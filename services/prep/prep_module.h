// The data-prep service with the state it owns: its RocksDB store under
// <data_dir>/prep, its outbox, its operations and the gRPC adapter. It reads
// datasets from the ingestion service and split parts from the split
// service (in this process, or where the peers say), and follows ingest's
// events to refresh the online store.
#ifndef MLPIPE_SERVICES_PREP_PREP_MODULE_H_
#define MLPIPE_SERVICES_PREP_PREP_MODULE_H_

#include <chrono>
#include <memory>

#include "common/events/subscriber.h"
#include "common/redis/online_redis.h"
#include "services/host/module.h"
#include "services/prep/preparer.h"
#include "services/prep/push_follower.h"

namespace mlpipe::prep {

struct PrepModuleOptions {
  PreparerOptions preparer;
  // A Redis online store gets a copy of the latest values.
  redis::OnlineStoreConfig online_store;
  // How often views whose Redis copy may differ are written again.
  std::chrono::milliseconds mirror_sync{5000};
};

class PrepModule final : public host::Module {
 public:
  static absl::StatusOr<std::unique_ptr<PrepModule>> Open(
      const host::ModuleEnv& env, PrepModuleOptions options = {});
  ~PrepModule() override;

 private:
  explicit PrepModule(const host::ModuleEnv& env) : Module("prep", env) {}
  // Follows ingest's events (new versions refresh the online store).
  absl::Status OnStart() override;
  void OnStop() override;

  // Writes the Redis copies that may differ, every `every`.
  void MirrorLoop(util::BackgroundLoop& loop, std::chrono::milliseconds every);

  Preparer* preparer_ = nullptr;
  OnlineStore* online_ = nullptr;
  PushFollower* follower_ = nullptr;
  std::unique_ptr<events::Subscriber> ingest_events_;
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PREP_MODULE_H_
