#include "common/ops/operations_service.h"

#include <algorithm>
#include <utility>

#include "common/rpc/status.h"
#include "common/rpc/watch_reactor.h"
#include "common/util/strings.h"

namespace mlpipe::ops {

absl::StatusOr<OperationManager*> OperationsService::Owner(
    const std::string& id) const {
  auto dash = id.find("-op-");
  auto it = dash == std::string::npos ? managers_.end()
                                      : managers_.find(id.substr(0, dash));
  if (it == managers_.end())
    return absl::NotFoundError(StrCat("operation '", id, "' not found"));
  return it->second;
}

grpc::ServerUnaryReactor* OperationsService::GetOperation(
    Ctx* ctx, const v1::GetOperationRequest* req, v1::Operation* out) {
  auto m = Owner(req->id());
  auto op =
      m.ok() ? (*m)->Get(req->id()) : absl::StatusOr<v1::Operation>(m.status());
  return rpc::FinishUnary(ctx, std::move(op), out);
}

grpc::ServerWriteReactor<v1::Operation>* OperationsService::WatchOperation(
    Ctx*, const v1::GetOperationRequest* req) {
  std::string id = req->id();
  auto owner = Owner(id);
  OperationManager* m = owner.ok() ? *owner : nullptr;
  absl::Status missing = owner.status();
  return new rpc::WatchReactor<v1::Operation>({
      .add_listener =
          [m, id](std::function<void(const v1::Operation&)> fn) {
            if (m == nullptr) return -1;
            return m->AddListener([id, fn](const v1::Operation& op) {
              if (op.id() == id) fn(op);
            });
          },
      .remove_listener =
          [m](int h) {
            if (m != nullptr) m->RemoveListener(h);
          },
      .get = [m, id, missing]() -> absl::StatusOr<v1::Operation> {
        if (m == nullptr) return missing;
        return m->Get(id);
      },
      .ended = Ended,
  });
}

grpc::ServerUnaryReactor* OperationsService::ListOperations(
    Ctx* ctx, const v1::ListOperationsRequest* req,
    v1::ListOperationsResponse* out) {
  for (const auto& [name, m] : managers_) {
    auto ops = m->List(req->kind(), req->limit());
    if (!ops.ok()) return rpc::FinishUnary(ctx, ops.status());
    for (auto& op : *ops) *out->add_operations() = std::move(op);
  }
  // Newest first across services (ids start with the service name, so
  // compare creation times).
  auto* ops = out->mutable_operations();
  std::sort(ops->begin(), ops->end(),
            [](const v1::Operation& a, const v1::Operation& b) {
              return std::make_pair(a.created_at().seconds(),
                                    a.created_at().nanos()) >
                     std::make_pair(b.created_at().seconds(),
                                    b.created_at().nanos());
            });
  int limit = req->limit() > 0 ? req->limit() : 50;
  while (ops->size() > limit) ops->RemoveLast();
  return rpc::FinishUnary(ctx, absl::OkStatus());
}

grpc::ServerUnaryReactor* OperationsService::CancelOperation(
    Ctx* ctx, const v1::CancelOperationRequest* req, v1::Operation* out) {
  auto m = Owner(req->id());
  auto op = m.ok() ? (*m)->Cancel(req->id())
                   : absl::StatusOr<v1::Operation>(m.status());
  return rpc::FinishUnary(ctx, std::move(op), out);
}

}  // namespace mlpipe::ops
