// The client side of long-running operations: start one with any service's
// RPC, then watch it to its end through mlpipe.v1.Operations.
#ifndef MLPIPE_COMMON_OPS_OPERATION_CLIENT_H_
#define MLPIPE_COMMON_OPS_OPERATION_CLIENT_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/operation.pb.h"

namespace mlpipe::ops {

// Watches `op` until it ends and returns it as it ended. `alive` (optional)
// is asked about once a second; when it returns an error the operation is
// cancelled and that error returned. `seen` (optional) gets every update
// while the operation runs.
absl::StatusOr<v1::Operation> WatchToEnd(
    const std::shared_ptr<grpc::Channel>& channel, v1::Operation op,
    const std::function<absl::Status()>& alive = nullptr,
    const std::function<void(const v1::Operation&)>& seen = nullptr);

// The result of an ended operation, unpacked; its error when it failed.
template <typename T>
absl::StatusOr<T> OperationResult(const v1::Operation& op) {
  if (op.state() != v1::Operation::SUCCEEDED) {
    return absl::Status(
        op.error().code() != 0
            ? static_cast<absl::StatusCode>(op.error().code())
            : absl::StatusCode::kCancelled,
        op.error().message().empty()
            ? std::string("operation ") + op.id() + " did not succeed"
            : op.error().message());
  }
  T out;
  if (!op.result().UnpackTo(&out))
    return absl::InternalError(std::string("operation ") + op.id() +
                               " has no result of type " +
                               T::descriptor()->full_name());
  return out;
}

}  // namespace mlpipe::ops

#endif  // MLPIPE_COMMON_OPS_OPERATION_CLIENT_H_
