#include "clients/monitor_client.h"

#include <chrono>

#include "common/rpc/status.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"

namespace mlpipe::monitor {

absl::Status LogPredictions(const std::shared_ptr<grpc::Channel>& channel,
                            const v1::PredictionBatch& batch) {
  return LogPredictions(channel, batch.SerializeAsString());
}

absl::Status LogPredictions(const std::shared_ptr<grpc::Channel>& channel,
                            std::string_view serialized_batch) {
  // The generated stub's method, written with a byte buffer (as the stub
  // itself does with the message it serializes).
  const grpc::internal::RpcMethod method(
      "/mlpipe.v1.Monitor/LogPredictions",
      grpc::internal::RpcMethod::CLIENT_STREAMING, channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::LogPredictionsResponse resp;
  std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> writer(
      grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(
          channel.get(), method, &call, &resp));
  grpc::Slice slice(serialized_batch.data(), serialized_batch.size());
  writer->Write(grpc::ByteBuffer(&slice, 1));
  writer->WritesDone();
  return rpc::FromGrpcStatus(writer->Finish());
}

}  // namespace mlpipe::monitor
