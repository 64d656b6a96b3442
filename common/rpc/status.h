// absl::Status <-> grpc::Status. Codes share numbering; messages carry over.
#ifndef MLPIPE_COMMON_RPC_STATUS_H_
#define MLPIPE_COMMON_RPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"

namespace mlpipe::rpc {

grpc::Status ToGrpcStatus(const absl::Status& status);

// Finishes a unary callback call at once with `status`.
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* ctx,
                                      const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_STATUS_H_
