// absl::Status <-> grpc::Status. Codes share numbering; messages carry over.
#ifndef MLPIPE_COMMON_RPC_STATUS_H_
#define MLPIPE_COMMON_RPC_STATUS_H_

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"

namespace mlpipe::rpc {

// The message is made safe to send back: a run of more than kMaxEchoBytes
// bytes without a space (an echoed name, id or value) is cut to that many,
// bytes that are not UTF-8 become '?', and the whole is at most
// kMaxMessageBytes (a 100 KB model name once made the error itself too big
// for gRPC's metadata).
inline constexpr size_t kMaxEchoBytes = 200;
inline constexpr size_t kMaxMessageBytes = 4096;
std::string BoundedMessage(std::string_view message);
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
