#include "services/prep/prep_service.h"

#include "common/rpc/status.h"

namespace mlpipe::prep {

grpc::ServerUnaryReactor* PrepService::ComputeStatistics(
    grpc::CallbackServerContext* ctx,
    const v1::ComputeStatisticsRequest* request,
    v1::DatasetStatistics* response) {
  return calls_.Run(ctx, [this, request, response] {
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
  return calls_.Run(ctx, [this, request, response] {
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

}  // namespace mlpipe::prep
