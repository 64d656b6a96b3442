// Client helpers for services that read from data prep: feature sets,
// their rows and fitted transforms.
#ifndef MLPIPE_CLIENTS_PREP_CLIENT_H_
#define MLPIPE_CLIENTS_PREP_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/table/frame_reader.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/prep_service.pb.h"

namespace mlpipe::prep {

absl::StatusOr<v1::FeatureSet> GetFeatureSet(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& id);
absl::StatusOr<v1::FittedTransform> GetTransform(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& id);
// The rows of a feature set as a stream (the call starts at the first Next).
std::unique_ptr<table::FrameReader> ReadFeatures(
    const std::shared_ptr<grpc::Channel>& channel,
    const v1::ReadFeaturesRequest& request);

// The online store's vectors of `keys` (one per key, `features` in order;
// nullopt for an unknown key), waiting at most 5 s.
absl::StatusOr<std::vector<std::optional<std::vector<double>>>>
GetOnlineFeatures(const std::shared_ptr<grpc::Channel>& channel,
                  const std::string& feature_set,
                  const std::vector<std::string>& keys,
                  const std::vector<std::string>& features);

}  // namespace mlpipe::prep

#endif  // MLPIPE_CLIENTS_PREP_CLIENT_H_
