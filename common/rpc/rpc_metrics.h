// The gRPC server interceptor that records every RPC:
// mlpipe_rpc_requests_total{method,code} and
// mlpipe_rpc_request_duration_seconds{method}, in the process's registry.
#ifndef MLPIPE_COMMON_RPC_RPC_METRICS_H_
#define MLPIPE_COMMON_RPC_RPC_METRICS_H_

#include <memory>

#include "grpcpp/support/server_interceptor.h"

namespace mlpipe::rpc {

// A server interceptor factory that counts requests by method and status
// code and records their latency.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory();

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_RPC_METRICS_H_
