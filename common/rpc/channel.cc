#include "common/rpc/channel.h"

#include <mutex>

#include "common/rpc/auth.h"
#include "common/util/strings.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace mlpipe::rpc {
namespace {

std::mutex tls_mu;
std::shared_ptr<grpc::ChannelCredentials>* tls_credentials = nullptr;

std::shared_ptr<grpc::ChannelCredentials> Credentials() {
  std::lock_guard lock(tls_mu);
  return tls_credentials != nullptr ? *tls_credentials
                                    : grpc::InsecureChannelCredentials();
}

// Adds `authorization: Bearer <token>` to every call of a channel.
class BearerInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit BearerInterceptor(const std::string* header) : header_(header) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::
                PRE_SEND_INITIAL_METADATA)) {
      m->GetSendInitialMetadata()->emplace("authorization", *header_);
    }
    m->Proceed();
  }

 private:
  const std::string* header_;
};

class BearerInterceptorFactory final
    : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerInterceptorFactory(std::string token)
      : header_("Bearer " + std::move(token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new BearerInterceptor(&header_);
  }

 private:
  const std::string header_;
};

}  // namespace

absl::Status SetClientTls(const TlsFiles& files) {
  if (!files.enabled()) return absl::OkStatus();
  auto tls = ReadTls(files);
  if (!tls.ok()) return tls.status();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls->ca;
  ssl.pem_private_key = tls->key;
  ssl.pem_cert_chain = tls->cert;
  std::lock_guard lock(tls_mu);
  tls_credentials =
      new std::shared_ptr<grpc::ChannelCredentials>(grpc::SslCredentials(ssl));
  return absl::OkStatus();
}

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target,
                                          const ChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
  // A server that restarts (a rollout, kill -9) is connected to again
  // within seconds: gRPC's default backoff grows to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 200);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  std::string config = "{";
  if (target.starts_with("dns:///") || target.starts_with("ipv4:") ||
      target.starts_with("ipv6:")) {
    config += R"("loadBalancingConfig": [{"round_robin": {}}])";
  }
  if (options.retry_unavailable) {
    if (config.size() > 1) config += ",";
    config += R"("methodConfig": [{"name": [{}], "retryPolicy": {
        "maxAttempts": 4, "initialBackoff": "0.1s", "maxBackoff": "2s",
        "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}])";
  }
  config += "}";
  args.SetServiceConfigJSON(config);
  if (ClientToken().empty())
    return grpc::CreateCustomChannel(target, Credentials(), args);
  std::vector<
      std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(
      std::make_unique<BearerInterceptorFactory>(ClientToken()));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      target, Credentials(), args, std::move(interceptors));
}

}  // namespace mlpipe::rpc
