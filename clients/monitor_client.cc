#include "clients/monitor_client.h"

#include <chrono>

#include "absl/time/clock.h"
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

absl::StatusOr<v1::Rollout> StartRolloutAndWait(
    const std::shared_ptr<grpc::Channel>& channel,
    const v1::StartRolloutRequest& request, absl::Duration timeout) {
  auto stub = v1::Monitor::NewStub(channel);
  const absl::Time until = absl::Now() + timeout;
  v1::Rollout rollout;
  {
    grpc::ClientContext call;
    call.set_deadline(absl::ToChronoTime(until));
    if (auto s = stub->StartRollout(&call, request, &rollout); !s.ok())
      return rpc::FromGrpcStatus(s);
  }
  const std::string canary = rollout.canary();
  while (true) {
    if (rollout.canary() != canary) {
      return absl::AbortedError(StrCat("the rollout of ", canary,
                                       " was superseded by the rollout of ",
                                       rollout.canary()));
    }
    if (rollout.state() == v1::Rollout::ABORTED) {
      return absl::AbortedError(StrCat("the rollout of ", canary,
                                       " was aborted: ", rollout.reason()));
    }
    if (rollout.route_applied()) return rollout;
    if (absl::Now() > until) {
      return absl::DeadlineExceededError(StrCat(
          "the first route of the rollout of ", canary, " was not set in ",
          absl::FormatDuration(timeout),
          rollout.route_error().empty() ? "" : ": ", rollout.route_error()));
    }
    absl::SleepFor(absl::Milliseconds(200));
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(30));
    v1::RolloutRequest get;
    get.set_alias(rollout.alias());
    if (auto s = stub->GetRollout(&call, get, &rollout); !s.ok())
      return rpc::FromGrpcStatus(s);
  }
}

}  // namespace mlpipe::monitor
