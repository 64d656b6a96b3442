// Client helpers for what reads the orchestrator's model registry.
#ifndef MLPIPE_CLIENTS_REGISTRY_CLIENT_H_
#define MLPIPE_CLIENTS_REGISTRY_CLIENT_H_

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

// The version the alias `alias` of `model`'s model ("credit:3" or "credit")
// points to now, "" when nothing holds it yet; an alias given as
// MODEL@ALIAS is taken as it is. `*qualified`: the alias as MODEL@ALIAS.
absl::StatusOr<std::string> ResolveAliasOf(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& model,
    const std::string& alias, std::string* qualified);

// Every scoring route the registry holds (aliases the scoring service set).
absl::StatusOr<std::vector<v1::Route>> ListRoutes(
    const std::shared_ptr<grpc::Channel>& channel);

// The scoring routes the registry recorded for `alias`, newest first (see
// score::RouteHistory); NOT_FOUND when it never held one.
absl::StatusOr<std::vector<v1::Route>> RouteHistory(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& alias);

// Records `route` as its alias's route (its primary as the alias's version)
// when the registry's route for the alias is still at `expected_revision`
// (0: none); ABORTED when another writer changed it first.
absl::Status PublishRoute(const std::shared_ptr<grpc::Channel>& channel,
                          const v1::Route& route, int64_t expected_revision,
                          const std::string& set_by);

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_CLIENTS_REGISTRY_CLIENT_H_
