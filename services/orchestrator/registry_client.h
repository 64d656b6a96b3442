// Client helper for what reads the orchestrator's model registry.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_REGISTRY_CLIENT_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_REGISTRY_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"

namespace mlpipe::orchestrator {

// The model version `alias` points to now; "" when nothing holds it yet.
absl::StatusOr<std::string> ResolveAlias(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& alias);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_REGISTRY_CLIENT_H_
