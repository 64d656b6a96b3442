// Client helpers for services that read splits: the split and its row
// assignments.
#ifndef MLPIPE_CLIENTS_SPLIT_CLIENT_H_
#define MLPIPE_CLIENTS_SPLIT_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/split_service.pb.h"

namespace mlpipe::split {

absl::StatusOr<v1::Split> GetSplit(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& id);
// Every assignment chunk of a split, in row order.
absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& split);

}  // namespace mlpipe::split

#endif  // MLPIPE_CLIENTS_SPLIT_CLIENT_H_
