// Runs service modules in one process: one gRPC port (with the Events API for
// every module's outbox), one metrics port, structured logs, and a graceful
// shutdown on SIGTERM / SIGINT. mlpipe-standalone runs every module; each
// mlpipe-<service> binary runs one.
#ifndef MLPIPE_SERVICES_HOST_HOST_H_
#define MLPIPE_SERVICES_HOST_HOST_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/auth/policy.h"
#include "common/events/event_log.h"
#include "common/ops/operation_manager.h"
#include "common/rpc/tls.h"
#include "grpcpp/channel.h"
#include "grpcpp/impl/codegen/service_type.h"

namespace mlpipe::host {

// One service with the state it owns (its RocksDB store and outbox).
class ServiceModule {
 public:
  virtual ~ServiceModule() = default;
  virtual std::string name() const = 0;
  // The gRPC services to register (owned by the module).
  virtual std::vector<grpc::Service*> services() = 0;
  // The module's outbox, served through mlpipe.v1.Events.
  virtual events::EventLog* event_log() = 0;
  // The module's long-running operations, served through
  // mlpipe.v1.Operations; nullptr when it has none.
  virtual ops::OperationManager* operations() { return nullptr; }
  // Sets the grpc.health.v1 status of one of the module's services.
  using HealthReporter =
      std::function<void(const std::string& service, bool serving)>;
  // Called before Start with the way to report health (services are
  // SERVING unless a module says otherwise).
  virtual void SetHealthReporter(HealthReporter report) {}
  // Called once the server is serving, with a channel to it (for modules that
  // call services hosted beside them). An error stops the process.
  virtual absl::Status Start(std::shared_ptr<grpc::Channel> self) {
    return absl::OkStatus();
  }
  // Called at shutdown, first, while the server still serves: stops the
  // module's background work.
  virtual void Stop() {}
  // Called at shutdown, after Stop and before the server drains: calls to
  // services hosted beside it no longer go through the server's in-process
  // channel (gRPC crashes making a call on it once the server has shut
  // down); they fail instead.
  virtual void Disconnect() {}
};

struct HostOptions {
  // "host:port" for gRPC; port 0 picks a free one. Default "0.0.0.0:7000".
  std::string grpc_address = "0.0.0.0:7000";
  // "host:port" for Prometheus /metrics; empty disables. Default
  // "0.0.0.0:9100".
  std::string metrics_address = "0.0.0.0:9100";
  // When set, "<grpc_port> <metrics_port> [<health_port>]\n" is written here
  // once serving (for tests and scripts that start the server on port 0).
  std::string port_file;
  // TLS or mutual TLS on the gRPC port (rpc::TlsFiles); plaintext when empty.
  rpc::TlsFiles tls;
  // Who may call what on the gRPC port (common/auth/policy.h); null: anyone
  // anything.
  std::shared_ptr<const auth::Policy> auth_policy;
  // Serve grpc.reflection (grpcurl). Default true.
  bool enable_reflection = true;
  // A plaintext port serving only grpc.health.v1 ("host:port"; empty: none).
  std::string health_address;
  // The data directory, whose disk space the metrics report (empty: none),
  // and where the audit trail is kept.
  std::string data_dir;
  // The audit trail's writes are refused while the disk would be left with
  // less free space (the modules' --min_free_disk_mb). Default 64 MiB.
  uint64_t min_free_bytes = 64 << 20;
  // In-flight calls get this long to finish at shutdown. Default 10 s.
  std::chrono::milliseconds drain_deadline{10000};
};

// Modules served on one gRPC server (with the Events and Operations APIs
// over every module) and, optionally, one metrics port. RunHost runs one
// until a signal; tests run one in process on port 0.
class Host {
 public:
  // Starts the server, then each module (in order) with a channel to it.
  static absl::StatusOr<std::unique_ptr<Host>> Start(
      const HostOptions& options,
      std::vector<std::unique_ptr<ServiceModule>> modules);
  ~Host();

  std::shared_ptr<grpc::Channel> InProcessChannel();
  int port() const;
  int metrics_port() const;
  int health_port() const;  // 0 without a health port.
  // "ingest,prep,...".
  const std::string& names() const { return names_; }
  ServiceModule* module(size_t i) { return modules_[i].get(); }
  // Stops the modules, drains the server, closes the stores. Idempotent.
  void Stop();

 private:
  friend int RunHost(const std::string&, const HostOptions&,
                     std::vector<std::unique_ptr<ServiceModule>>);
  class Parts;
  Host() = default;
  std::unique_ptr<Parts> parts_;
  std::vector<std::unique_ptr<ServiceModule>> modules_;
  std::string names_;
};

// Serves `modules` until SIGTERM or SIGINT, then drains and returns 0; returns
// 1 when the server cannot start. REQUIRES: rpc::BlockTerminationSignals()
// was called at the top of main().
int RunHost(const std::string& process_name, const HostOptions& options,
            std::vector<std::unique_ptr<ServiceModule>> modules);

}  // namespace mlpipe::host

#endif  // MLPIPE_SERVICES_HOST_HOST_H_
