#include "common/rpc/peers.h"

#include "common/rpc/channel.h"

namespace mlpipe::rpc {

const std::vector<std::string>& Peers::Names() {
  static const auto* names = new std::vector<std::string>{
      "ingest",   "prep",  "split",   "train",
      "evaluate", "score", "monitor", "orchestrator"};
  return *names;
}

Peers::Peers(const std::map<std::string, std::string>& addresses) {
  for (const auto& [service, target] : addresses) {
    if (!target.empty()) remote_[service] = NewChannel(target);
  }
}

void Peers::SetSelf(std::shared_ptr<grpc::Channel> self) {
  std::lock_guard lock(mu_);
  self_ = std::move(self);
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

}  // namespace mlpipe::rpc
