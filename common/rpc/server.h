// Runs gRPC services: listen address, grpc.health.v1 health checks, server
// reflection, message-size limits, keepalive enforcement, RPC metrics, and a
// graceful shutdown that drains in-flight calls within a deadline.
#ifndef MLPIPE_COMMON_RPC_SERVER_H_
#define MLPIPE_COMMON_RPC_SERVER_H_

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/auth/policy.h"
#include "common/rpc/tls.h"
#include "grpcpp/channel.h"
#include "grpcpp/server.h"
#include "grpcpp/support/server_interceptor.h"

namespace mlpipe::rpc {

struct ServerOptions {
  // Behaviour --------------------------------------------------------------
  // "host:port"; port 0 lets the OS choose (see Server::port()).
  // Default "0.0.0.0:7000".
  std::string listen_address = "0.0.0.0:7000";
  // Largest message received or sent. Default 64 MiB.
  int max_message_bytes = 64 << 20;
  // Serve grpc.reflection.v1alpha (grpcurl, grpc_cli). Default true.
  bool enable_reflection = true;
  // How long Shutdown() lets in-flight calls finish before cancelling them.
  // Default 10 s.
  std::chrono::milliseconds drain_deadline{10000};
  // Clients pinging more often than this are told to go away. Default 10 s.
  int keepalive_min_ping_interval_ms = 10000;
  // TLS (or mutual TLS) on listen_address; plaintext when not enabled.
  TlsFiles tls;
  // When set, every call on listen_address is authenticated and authorized
  // by it first (common/rpc/auth.h); when null, anyone reaching the port may
  // call anything.
  std::shared_ptr<const auth::Policy> auth_policy;
  // Interceptors after the RPC metrics' (e.g. the audit trail's).
  std::vector<
      std::shared_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  // A plaintext "host:port" serving only grpc.health.v1, with the same
  // statuses (for Kubernetes' gRPC probes, which do not speak TLS). Empty:
  // none; port 0: any free port (see health_port()).
  std::string health_address;
};

// A running gRPC server. Thread-safe.
class Server {
 public:
  // Starts serving `services` (not owned; they must outlive the server).
  // UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options,
      const std::vector<grpc::Service*>& services);
  ~Server();

  int port() const { return port_; }
  int health_port() const { return health_port_; }
  // A channel to this server that does not go through the network.
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Health status of one service (grpc.health.v1 with that service name),
  // e.g. NOT_SERVING until it has loaded what it serves.
  void SetServing(const std::string& service, bool serving);
  // Reports NOT_SERVING on health checks, stops accepting calls, waits up to
  // the drain deadline for in-flight calls, then cancels the rest. Idempotent.
  void Shutdown();
  // grpc.health.v1 reports every service NOT_SERVING (the start of a
  // shutdown: load balancers stop sending before calls are refused).
  void SetNotServing();
  // Blocks until the server has shut down.
  void Wait();

 private:
  Server(std::unique_ptr<grpc::Server> server, int port,
         std::chrono::milliseconds drain);
  std::unique_ptr<grpc::Server> server_;
  // Declared before health_: destroyed after the server that calls it.
  std::unique_ptr<grpc::CallbackGenericService> unimplemented_;
  std::unique_ptr<grpc::Server> health_;  // May be null.
  int port_;
  int health_port_ = 0;
  std::chrono::milliseconds drain_;
  std::once_flag shutdown_once_;
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts
// afterwards. Call first thing in main().
void BlockTerminationSignals();
// Waits until SIGTERM or SIGINT arrives; returns the signal number.
// REQUIRES: BlockTerminationSignals() was called.
int WaitForTerminationSignal();

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_SERVER_H_
