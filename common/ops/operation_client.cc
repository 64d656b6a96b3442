#include "common/ops/operation_client.h"

#include "common/ops/operation_manager.h"
#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/operations_service.grpc.pb.h"

namespace mlpipe::ops {

absl::StatusOr<v1::Operation> WatchToEnd(
    const std::shared_ptr<grpc::Channel>& channel, v1::Operation op,
    const std::function<absl::Status()>& alive,
    const std::function<void(const v1::Operation&)>& seen) {
  auto ops = v1::Operations::NewStub(channel);
  // Watch streams end every second so `alive` is asked; the operation keeps
  // running in its service meanwhile.
  while (!Ended(op)) {
    grpc::ClientContext watch;
    if (alive) {
      watch.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(1));
    }
    v1::GetOperationRequest get;
    get.set_id(op.id());
    auto reader = ops->WatchOperation(&watch, get);
    v1::Operation update;
    while (reader->Read(&update)) {
      op = update;
      if (seen && !Ended(op)) seen(op);
    }
    grpc::Status s = reader->Finish();
    if (!s.ok() && s.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED)
      return rpc::FromGrpcStatus(s);
    if (!alive || Ended(op)) continue;
    if (auto still = alive(); !still.ok()) {
      grpc::ClientContext cancel;
      cancel.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(10));
      v1::CancelOperationRequest req;
      req.set_id(op.id());
      v1::Operation ignored;
      ops->CancelOperation(&cancel, req, &ignored);
      return still;
    }
  }
  return op;
}

}  // namespace mlpipe::ops
