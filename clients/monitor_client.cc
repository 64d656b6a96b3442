#include "clients/monitor_client.h"

#include <chrono>

#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/sync_stream.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"

namespace mlpipe::monitor {

absl::Status LogPredictions(const std::shared_ptr<grpc::Channel>& channel,
                            const v1::PredictionBatch& batch) {
  return LogPredictions(channel, batch.SerializeAsString(),
                        static_cast<size_t>(batch.records_size()));
}

absl::Status LogPredictions(const std::shared_ptr<grpc::Channel>& channel,
                            std::string_view serialized_batch, size_t records) {
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
  if (auto s = rpc::FromGrpcStatus(writer->Finish()); !s.ok()) return s;
  // A batch the server cannot parse ends its stream early, with OK.
  if (resp.records() != records) {
    return absl::DataLossError(StrCat("the monitoring service took ",
                                      resp.records(), " of ", records,
                                      " prediction records"));
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::monitor
