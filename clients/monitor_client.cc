#include "clients/monitor_client.h"

#include <chrono>

#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"

namespace mlpipe::monitor {

absl::Status LogPredictions(const std::shared_ptr<grpc::Channel>& channel,
                            const v1::PredictionBatch& batch) {
  auto stub = v1::Monitor::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::LogPredictionsResponse resp;
  auto writer = stub->LogPredictions(&call, &resp);
  writer->Write(batch);
  writer->WritesDone();
  return rpc::FromGrpcStatus(writer->Finish());
}

}  // namespace mlpipe::monitor
