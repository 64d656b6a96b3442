#include "common/rpc/server.h"

#include <signal.h>

#include <mutex>

#include "common/rpc/auth.h"
#include "common/rpc/rpc_metrics.h"
#include "common/util/strings.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace mlpipe::rpc {
namespace {

// Plaintext, TLS or mutual TLS; with the policy applied to every call when
// there is one.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const ServerOptions& options) {
  TlsMaterial tls;
  if (options.tls.enabled()) {
    auto read = ReadTls(options.tls);
    if (!read.ok()) return read.status();
    if (read->cert.empty())
      return absl::InvalidArgumentError(
          "tls: a server needs a certificate and key");
    tls = std::move(*read);
  }
  if (options.auth_policy != nullptr) {
    SetActivePolicy(options.auth_policy);
    return PolicyServerCredentials(options.auth_policy, tls);
  }
  if (tls.cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl(
      tls.ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = tls.ca;
  ssl.pem_key_cert_pairs.push_back({tls.key, tls.cert});
  return grpc::SslServerCredentials(ssl);
}

// A factory ServerBuilder can own, lending one the options share.
class SharedFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit SharedFactory(
      std::shared_ptr<grpc::experimental::ServerInterceptorFactoryInterface> f)
      : f_(std::move(f)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return f_->CreateServerInterceptor(info);
  }

 private:
  std::shared_ptr<grpc::experimental::ServerInterceptorFactoryInterface> f_;
};

// Takes server reflection off a server: linking grpc++_reflection registers
// its plugin for every server a process builds (a static initializer), so
// not calling InitProtoReflectionServerBuilderPlugin is not enough.
class WithoutReflection final : public grpc::ServerBuilderOption {
 public:
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    std::erase_if(*plugins, [](const auto& p) {
      return p->name() == "proto_server_reflection";
    });
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  if (options.enable_reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  }
  auto credentials = ServerCredentials(options);
  if (!credentials.ok()) return credentials.status();
  grpc::ServerBuilder builder;
  if (!options.enable_reflection)
    builder.SetOption(std::make_unique<WithoutReflection>());
  int port = 0;
  builder.AddListeningPort(options.listen_address, *credentials, &port);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      options.keepalive_min_ping_interval_ms);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(NewRpcMetricsInterceptorFactory());
  for (const auto& f : options.interceptors)
    interceptors.push_back(std::make_unique<SharedFactory>(f));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (auto* s : services) builder.RegisterService(s);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        StrCat("cannot listen on ", options.listen_address));
  }
  server->GetHealthCheckService()->SetServingStatus(true);
  std::unique_ptr<Server> out(
      new Server(std::move(server), port, options.drain_deadline));
  if (!options.health_address.empty()) {
    // Only the default health service: every other method is UNIMPLEMENTED
    // (the generic service, which also gives gRPC the callback methods it
    // needs to start a server without synchronous ones).
    grpc::ServerBuilder health;
    health.SetOption(std::make_unique<WithoutReflection>());
    out->unimplemented_ = std::make_unique<grpc::CallbackGenericService>();
    health.RegisterCallbackGenericService(out->unimplemented_.get());
    health.AddListeningPort(options.health_address,
                            grpc::InsecureServerCredentials(),
                            &out->health_port_);
    out->health_ = health.BuildAndStart();
    if (out->health_ == nullptr || out->health_port_ == 0) {
      return absl::UnavailableError(
          StrCat("cannot listen on ", options.health_address));
    }
    out->health_->GetHealthCheckService()->SetServingStatus(true);
  }
  return out;
}

Server::Server(std::unique_ptr<grpc::Server> server, int port,
               std::chrono::milliseconds drain)
    : server_(std::move(server)), port_(port), drain_(drain) {}

Server::~Server() {
  Shutdown();
  Wait();
}

std::shared_ptr<grpc::Channel> Server::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return server_->InProcessChannel(args);
}

void Server::SetServing(const std::string& service, bool serving) {
  server_->GetHealthCheckService()->SetServingStatus(service, serving);
  if (health_)
    health_->GetHealthCheckService()->SetServingStatus(service, serving);
}

void Server::SetNotServing() {
  server_->GetHealthCheckService()->SetServingStatus(false);
  if (health_) health_->GetHealthCheckService()->SetServingStatus(false);
}

void Server::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    server_->GetHealthCheckService()->SetServingStatus(false);
    if (health_) health_->GetHealthCheckService()->SetServingStatus(false);
    server_->Shutdown(std::chrono::system_clock::now() + drain_);
    if (health_) health_->Shutdown(std::chrono::system_clock::now());
  });
}

void Server::Wait() {
  server_->Wait();
  if (health_) health_->Wait();
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace mlpipe::rpc
