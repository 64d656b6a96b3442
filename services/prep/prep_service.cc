#include "services/prep/prep_service.h"

#include <thread>

#include "common/rpc/status.h"

namespace mlpipe::prep {

grpc::ServerUnaryReactor* PrepService::ComputeStatistics(
    grpc::CallbackServerContext* ctx,
    const v1::ComputeStatisticsRequest* request,
    v1::DatasetStatistics* response) {
  auto* reactor = ctx->DefaultReactor();
  {
    std::lock_guard lock(mu_);
    ++running_;
  }
  // Reading a whole dataset takes a while: not on a gRPC thread.
  std::thread([this, reactor, request, response] {
    std::vector<std::string> columns(request->columns().begin(),
                                     request->columns().end());
    auto stats = preparer_->ComputeStatistics(request->dataset(),
                                              request->version(), columns);
    if (stats.ok()) *response = std::move(*stats);
    reactor->Finish(rpc::ToGrpcStatus(stats.status()));
    std::lock_guard lock(mu_);
    if (--running_ == 0) idle_.notify_all();
  }).detach();
  return reactor;
}

PrepService::~PrepService() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return running_ == 0; });
}

}  // namespace mlpipe::prep
