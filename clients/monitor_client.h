// Client helpers for what sends the monitoring service its inputs.
#ifndef MLPIPE_CLIENTS_MONITOR_CLIENT_H_
#define MLPIPE_CLIENTS_MONITOR_CLIENT_H_

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/monitor_service.pb.h"

namespace mlpipe::monitor {

// Sends one batch of prediction records in one LogPredictions stream,
// waiting at most 30 s; OK once the monitor has made them durable.
absl::Status LogPredictions(const std::shared_ptr<grpc::Channel>& channel,
                            const v1::PredictionBatch& batch);
// The same with the batch in its wire form (a serialized v1::PredictionBatch
// of `records` records), sent as it is: no message is built and serialized
// again. DATA_LOSS when the monitor took another number of records.
absl::Status LogPredictions(const std::shared_ptr<grpc::Channel>& channel,
                            std::string_view serialized_batch, size_t records);

// Starts a canary rollout and waits, at most `timeout`, until the monitor
// has set its first route: the rollout then (RUNNING at its first share, or
// PROMOTED). ABORTED with the reason when it was aborted first (the canary
// did not load, the route changed) or superseded by another canary's;
// DEADLINE_EXCEEDED naming the last route error.
absl::StatusOr<v1::Rollout> StartRolloutAndWait(
    const std::shared_ptr<grpc::Channel>& channel,
    const v1::StartRolloutRequest& request, absl::Duration timeout);

}  // namespace mlpipe::monitor

#endif  // MLPIPE_CLIENTS_MONITOR_CLIENT_H_
