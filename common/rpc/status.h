// absl::Status <-> grpc::Status. Codes share numbering; messages carry over.
#ifndef MLPIPE_COMMON_RPC_STATUS_H_
#define MLPIPE_COMMON_RPC_STATUS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"

namespace mlpipe::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Finishes a unary callback call at once with `status`.
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx,
                                      const absl::Status& status);
// Finishes a unary call with `value`'s status, moving the value into `out`
// when there is one.
template <typename T, typename Out>
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx,
                                      absl::StatusOr<T> value, Out* out) {
  if (value.ok()) *out = std::move(*value);
  return FinishUnary(ctx, value.status());
}
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_STATUS_H_
