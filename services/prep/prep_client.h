// Client helpers for services that read from data prep: feature sets,
// their rows and fitted transforms.
#ifndef MLPIPE_SERVICES_PREP_PREP_CLIENT_H_
#define MLPIPE_SERVICES_PREP_PREP_CLIENT_H_

#include <memory>
#include <string>

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

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_PREP_CLIENT_H_
