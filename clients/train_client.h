// Client helpers for services that read models from the training service.
#ifndef MLPIPE_CLIENTS_TRAIN_CLIENT_H_
#define MLPIPE_CLIENTS_TRAIN_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/model.pb.h"

namespace mlpipe::train {

// The artifact of model `id` ("credit:2"; a bare name: its latest version),
// waiting at most a minute; with `summary`, without the learned parameters
// and transform.
absl::StatusOr<v1::ModelArtifact> GetModel(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& id,
    bool summary = false);

}  // namespace mlpipe::train

#endif  // MLPIPE_CLIENTS_TRAIN_CLIENT_H_
