#include "common/rpc/peers.h"

#include "common/rpc/channel.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace mlpipe::rpc {

const std::vector<std::string>& Peers::Names() {
  static const auto* names = new std::vector<std::string>{
      "ingest",   "prep",  "split",   "train",
      "evaluate", "score", "monitor", "orchestrator"};
  return *names;
}

Peers::Peers(const std::map<std::string, std::string>& addresses) {
  for (const auto& [service, target] : addresses) {
    if (target.empty()) continue;
    remote_[service] = NewChannel(target);
    addresses_[service] = target;
  }
}

void Peers::SetSelf(std::shared_ptr<grpc::Channel> self) {
  std::lock_guard lock(mu_);
  self_ = std::move(self);
}

void Peers::Close() {
  // A socket path that cannot exist: every call fails at once.
  auto closed = grpc::CreateChannel("unix:/nonexistent/mlpipe-server-closed",
                                    grpc::InsecureChannelCredentials());
  std::lock_guard lock(mu_);
  self_ = std::move(closed);
}

std::shared_ptr<grpc::Channel> Peers::Channel(
    const std::string& service) const {
  if (auto it = remote_.find(service); it != remote_.end()) return it->second;
  std::lock_guard lock(mu_);
  return self_;
}

bool Peers::IsLocal(const std::string& service) const {
  return !remote_.contains(service);
}

std::string Peers::Address(const std::string& service) const {
  auto it = addresses_.find(service);
  return it == addresses_.end() ? "" : it->second;
}

}  // namespace mlpipe::rpc
