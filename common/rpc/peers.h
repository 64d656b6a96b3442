// Where the other services are: service name -> channel. A service without
// an address is hosted in this process and reached through the server's
// in-process channel (the same code path as a remote call).
#ifndef MLPIPE_COMMON_RPC_PEERS_H_
#define MLPIPE_COMMON_RPC_PEERS_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "grpcpp/channel.h"

namespace mlpipe::rpc {

// Thread-safe. Remote channels are made once, at construction (a gRPC
// channel connects lazily and reconnects by itself).
class Peers {
 public:
  // The service names peers are known by.
  static const std::vector<std::string>& Names();

  // `addresses`: service name -> target ("host:port", "dns:///...", an
  // "ipv4:" list); a name absent or mapped to "" is this process.
  explicit Peers(const std::map<std::string, std::string>& addresses = {});

  // This process's in-process channel (the host sets it once its server
  // serves).
  void SetSelf(std::shared_ptr<grpc::Channel> self);

  // From now on, services hosted here are reached through a channel whose
  // calls fail (UNAVAILABLE) instead of the in-process one: the server is
  // going away.
  void Close();

  // The channel to `service`; nullptr for one hosted here before SetSelf.
  std::shared_ptr<grpc::Channel> Channel(const std::string& service) const;

  // True when `service` is reached through this process's own server.
  bool IsLocal(const std::string& service) const;
  // The target `service` was given ("" for one hosted here).
  std::string Address(const std::string& service) const;

 private:
  std::map<std::string, std::shared_ptr<grpc::Channel>> remote_;
  std::map<std::string, std::string> addresses_;
  mutable std::mutex mu_;
  std::shared_ptr<grpc::Channel> self_;  // GUARDED_BY(mu_)
};

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_PEERS_H_
