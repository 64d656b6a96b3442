// For step types backed by a long-running operation (prepare, split, train,
// evaluate, ...): start it with the service's RPC, watch it to its end
// (cancelling it when the step is cancelled or times out), unpack its result.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_OPERATION_STEP_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_OPERATION_STEP_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/ops/operation_client.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "services/orchestrator/executor.h"

namespace mlpipe::orchestrator {

// Starts the operation on `call` (e.g. a stub's Prepare).
using StartOperation =
    std::function<grpc::Status(grpc::ClientContext* call, v1::Operation* op)>;

// Errors are prefixed with "<what> <operation id>: ".
template <typename T>
absl::StatusOr<T> RunOperation(const StepContext& ctx,
                               const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& what,
                               const StartOperation& start) {
  v1::Operation op;
  {
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(60));
    if (auto s = start(&call, &op); !s.ok()) return rpc::FromGrpcStatus(s);
  }
  auto ended = ops::WatchToEnd(
      channel, op, [&ctx] { return ctx.CheckAlive(); },
      [&ctx](const v1::Operation& seen) {
        ctx.ReportProgress(seen.progress());
      });
  if (!ended.ok()) return ended.status();
  auto result = ops::OperationResult<T>(*ended);
  if (!result.ok()) {
    return absl::Status(
        result.status().code(),
        StrCat(what, " ", op.id(), ": ", result.status().message()));
  }
  return result;
}

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_OPERATION_STEP_H_
