// The base every service module derives from, and how a module is declared
// to the server binaries. A module owns its RocksDB store, its outbox, its
// long-running operations, its domain objects and its gRPC adapters, and
// tears them down in one order:
//
//   Stop():     background loops -> operations -> OnStop()
//   destroyed:  gRPC services -> operations -> parts (reverse of adoption)
//               -> outbox -> store
//
// A module's own code is then only what is particular to it: which column
// families, which domain objects, which operations and services.
#ifndef MLPIPE_SERVICES_HOST_MODULE_H_
#define MLPIPE_SERVICES_HOST_MODULE_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/ops/operation_manager.h"
#include "common/rpc/peers.h"
#include "common/storage/store.h"
#include "common/util/background_loop.h"
#include "google/protobuf/any.pb.h"
#include "services/host/host.h"
#include "services/host/module_def.h"

namespace mlpipe::host {

class Module : public ServiceModule {
 public:
  ~Module() override;  // Stop(), then the teardown order above.

  std::string name() const final { return name_; }
  std::vector<grpc::Service*> services() final;
  events::EventLog* event_log() final { return outbox_.get(); }
  ops::OperationManager* operations() final { return ops_.get(); }
  void SetHealthReporter(HealthReporter report) final {
    health_ = std::move(report);
  }
  // Connects the peers hosted here, resumes interrupted operations, calls
  // OnStart(), then starts the background loops.
  absl::Status Start(std::shared_ptr<grpc::Channel> self) final;
  // Idempotent.
  void Stop() final;
  void Disconnect() final;

 protected:
  Module(std::string name, ModuleEnv env);

  // Opens <data_dir>/<name> with `options` (the operations and events
  // column families are added when absent) and the module's outbox.
  absl::Status OpenStore(storage::Options options);

  storage::Store* store() const { return store_.get(); }
  // The free disk space its store keeps (--min_free_bytes).
  uint64_t min_free_bytes() const { return min_free_bytes_; }
  // A path of the module's own beside its store: <data_dir>/<name>-<what>.
  std::string DataPath(const std::string& what) const {
    return data_dir_ + "/" + name_ + "-" + what;
  }
  events::EventLog* outbox() const { return outbox_.get(); }
  rpc::Peers& peers() const { return *peers_; }
  // The channel to a peer service (this process's own when it is hosted
  // here).
  std::shared_ptr<grpc::Channel> Peer(const std::string& service) const {
    return peers_->Channel(service);
  }

  // Takes a part of the module (a domain object, a source adapter); parts
  // are destroyed in reverse order of adoption.
  template <typename T>
  T* Own(std::unique_ptr<T> part) {
    T* raw = part.get();
    parts_.push_back(std::shared_ptr<void>(std::move(part)));
    return raw;
  }
  template <typename T, typename... Args>
  T* Make(Args&&... args) {
    return Own(std::make_unique<T>(std::forward<Args>(args)...));
  }
  // `name`: its full gRPC name, under which its health is reported.
  void AddService(std::unique_ptr<grpc::Service> service,
                  const std::string& name);

  // The module's operations; made with default options on first use.
  // REQUIRES: OpenStore succeeded.
  void EnableOperations(ops::OperationManagerOptions options);
  ops::OperationManager* ops();
  // Declares an operation kind whose stored request is a `Request` and
  // whose result is a `Result`. A stored request that does not parse fails
  // the operation with DATA_LOSS.
  template <typename Request, typename Result>
  void RegisterOperation(
      const std::string& kind,
      std::function<absl::StatusOr<Result>(const Request&, ops::Progress&)>
          run) {
    ops()->Register(
        kind,
        [kind, run = std::move(run)](
            const google::protobuf::Any& any,
            ops::Progress& progress) -> absl::StatusOr<google::protobuf::Any> {
          Request request;
          if (!any.UnpackTo(&request)) return UnreadableRequest(kind);
          absl::StatusOr<Result> result = run(request, progress);
          if (!result.ok()) return result.status();
          google::protobuf::Any out;
          out.PackFrom(*result);
          return out;
        });
  }

  // Runs `body` on its own thread from Start (after OnStart) to Stop.
  util::BackgroundLoop* AddLoop(
      std::function<void(util::BackgroundLoop&)> body);

  // Sets the grpc.health.v1 status of one of the module's services (while
  // the store refuses writes, every service reports NOT_SERVING).
  void ReportHealth(const std::string& service, bool serving);

  // Hooks for what is particular to a module.
  virtual absl::Status OnStart() { return absl::OkStatus(); }
  virtual void OnStop() {}

 private:
  static absl::Status UnreadableRequest(const std::string& kind);
  // Checks every second whether the store takes writes (resuming it once
  // space is back), and reports the services' health by it.
  void WatchStore(util::BackgroundLoop& loop);
  void SetWritable(bool writable);

  const std::string name_;
  const std::string data_dir_;
  const uint64_t min_free_bytes_;
  const uint64_t store_memory_bytes_;
  std::shared_ptr<rpc::Peers> peers_;
  HealthReporter health_;
  std::mutex health_mu_;
  std::map<std::string, bool> ready_;  // By service. GUARDED_BY(health_mu_)
  bool writable_ = true;               // GUARDED_BY(health_mu_)
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> outbox_;
  std::vector<std::shared_ptr<void>> parts_;
  std::unique_ptr<ops::OperationManager> ops_;
  std::vector<std::unique_ptr<grpc::Service>> services_;
  std::vector<std::pair<std::function<void(util::BackgroundLoop&)>,
                        std::unique_ptr<util::BackgroundLoop>>>
      loops_;
  bool stopped_ = false;
};

}  // namespace mlpipe::host

#endif  // MLPIPE_SERVICES_HOST_MODULE_H_
