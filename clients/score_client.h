// Client helpers for what manages the scoring service's routes.
#ifndef MLPIPE_CLIENTS_SCORE_CLIENT_H_
#define MLPIPE_CLIENTS_SCORE_CLIENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/score_service.pb.h"

namespace mlpipe::score {

// Every route the scoring service serves, waiting at most 30 s.
absl::StatusOr<v1::ListDeploymentsResponse> ListDeployments(
    const std::shared_ptr<grpc::Channel>& channel);

// Applies `request` (a deploy, canary, shadow or split), waiting at most
// 5 minutes (loading a version takes time).
absl::StatusOr<v1::DeployResponse> Deploy(
    const std::shared_ptr<grpc::Channel>& channel,
    const v1::DeployRequest& request);

// Rolls an alias back to its previous route, waiting at most 60 s; the
// route after the rollback.
absl::StatusOr<v1::Route> Rollback(
    const std::shared_ptr<grpc::Channel>& channel,
    const v1::RollbackRequest& request);

}  // namespace mlpipe::score

#endif  // MLPIPE_CLIENTS_SCORE_CLIENT_H_
