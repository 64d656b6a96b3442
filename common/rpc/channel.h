// Client channels to mlpipe services.
#ifndef MLPIPE_COMMON_RPC_CHANNEL_H_
#define MLPIPE_COMMON_RPC_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/rpc/tls.h"
#include "grpcpp/channel.h"

namespace mlpipe::rpc {

struct ChannelOptions {
  // Largest message received or sent. Default 64 MiB.
  int max_message_bytes = 64 << 20;
  // Retry calls that fail with UNAVAILABLE (up to 4 attempts, exponential
  // backoff from 100 ms). Safe for mlpipe RPCs: reads are idempotent and
  // writes carry idempotency keys. Default true.
  bool retry_unavailable = true;
};

// TLS for every channel NewChannel makes from now on (the process's
// outbound calls): the CA to verify servers with, and a certificate and key
// for mutual TLS. INVALID_ARGUMENT naming an unreadable file. Call once, at
// start.
absl::Status SetClientTls(const TlsFiles& files);

// A channel to `target`: "host:port"; "dns:///name:port", which balances
// round robin over every address the name resolves to (as for a headless
// Kubernetes Service); or a static list "ipv4:10.0.0.1:7000,10.0.0.2:7000",
// also round robin.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& target,
                                          const ChannelOptions& options = {});

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_CHANNEL_H_
