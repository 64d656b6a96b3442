#include "common/rpc/channel.h"

#include "common/util/strings.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace mlpipe::rpc {

std::shared_ptr<grpc::Channel> NewChannel(const std::string& target,
                                          const ChannelOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_message_bytes);
  args.SetMaxSendMessageSize(options.max_message_bytes);
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
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace mlpipe::rpc
