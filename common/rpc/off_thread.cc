#include "common/rpc/off_thread.h"

#include <thread>

#include "common/rpc/status.h"

namespace mlpipe::rpc {

grpc::ServerUnaryReactor* OffThreadCalls::Run(
    grpc::CallbackServerContext* ctx, std::function<absl::Status()> work) {
  auto* reactor = ctx->DefaultReactor();
  {
    std::lock_guard lock(mu_);
    ++running_;
  }
  std::thread([this, reactor, work = std::move(work)] {
    reactor->Finish(ToGrpcStatus(work()));
    std::lock_guard lock(mu_);
    if (--running_ == 0) idle_.notify_all();
  }).detach();
  return reactor;
}

grpc::ServerUnaryReactor* RunAdmitted(grpc::CallbackServerContext* ctx,
                                      const Submitter& submit,
                                      std::function<void(Done)> work) {
  auto* reactor = ctx->DefaultReactor();
  absl::Status admitted = submit(std::move(work), [reactor](absl::Status st) {
    reactor->Finish(ToGrpcStatus(st));
  });
  if (!admitted.ok()) reactor->Finish(ToGrpcStatus(admitted));
  return reactor;
}

OffThreadCalls::~OffThreadCalls() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return running_ == 0; });
}

}  // namespace mlpipe::rpc
