// Client helpers for what reads the orchestrator's model registry.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_REGISTRY_CLIENT_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_REGISTRY_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/score_service.pb.h"

namespace mlpipe::orchestrator {

// The model version `alias` points to now; "" when nothing holds it yet.
absl::StatusOr<std::string> ResolveAlias(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& alias);

// Every scoring route the registry holds (aliases the scoring service set).
absl::StatusOr<std::vector<v1::Route>> ListRoutes(
    const std::shared_ptr<grpc::Channel>& channel);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_REGISTRY_CLIENT_H_
