#include "services/prep/prep_service.h"

#include <thread>

#include "common/rpc/status.h"

namespace mlpipe::prep {

grpc::ServerUnaryReactor* PrepService::RunAside(
    grpc::CallbackServerContext* ctx, std::function<absl::Status()> work) {
  auto* reactor = ctx->DefaultReactor();
  {
    std::lock_guard lock(mu_);
    ++running_;
  }
  std::thread([this, reactor, work = std::move(work)] {
    reactor->Finish(rpc::ToGrpcStatus(work()));
    std::lock_guard lock(mu_);
    if (--running_ == 0) idle_.notify_all();
  }).detach();
  return reactor;
}

grpc::ServerUnaryReactor* PrepService::ComputeStatistics(
    grpc::CallbackServerContext* ctx,
    const v1::ComputeStatisticsRequest* request,
    v1::DatasetStatistics* response) {
  return RunAside(ctx, [this, request, response] {
    std::vector<std::string> columns(request->columns().begin(),
                                     request->columns().end());
    auto stats = preparer_->ComputeStatistics(request->dataset(),
                                              request->version(), columns);
    if (stats.ok()) *response = std::move(*stats);
    return stats.status();
  });
}

grpc::ServerUnaryReactor* PrepService::Validate(
    grpc::CallbackServerContext* ctx, const v1::ValidateRequest* request,
    v1::ValidationReport* response) {
  return RunAside(ctx, [this, request, response] {
    std::vector<std::string> fail_on(request->fail_on().begin(),
                                     request->fail_on().end());
    auto report = preparer_->Validate(
        request->dataset(), request->version(),
        request->has_schema() ? &request->schema() : nullptr, request->label(),
        fail_on);
    if (report.ok()) *response = std::move(*report);
    return report.status();
  });
}

PrepService::~PrepService() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return running_ == 0; });
}

}  // namespace mlpipe::prep
