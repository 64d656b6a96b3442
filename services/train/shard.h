// Distributed training of one GBDT trial (Candidate.distributed): N
// processes on the train replicas, each holding only its shard of the rows
// (internal::ShardOf), fit one model over XGBoost's collective; the
// coordinating train service starts XGBoost's tracker, collects the model
// from rank 0 and the shards' predictions for the metrics.
//
// Here: a shard's side. XGBoost's communicator belongs to the process, so a
// replica never fits a shard beside its other trials: it runs the shard
// binary (mlpipe-train-shard) as a child process, feeds it the request on
// stdin and relays the reports the child writes on stdout
// (length-delimited v1::ShardReport, a failure last).
#ifndef MLPIPE_SERVICES_TRAIN_SHARD_H_
#define MLPIPE_SERVICES_TRAIN_SHARD_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "mlpipe/v1/train_service.pb.h"
#include "services/train/trainer.h"

namespace mlpipe::train {

using ShardReporter = std::function<absl::Status(const v1::ShardReport&)>;

// In the shard's process: reads the shard's rows from `sources`, joins the
// collective, fits, and reports progress and checkpoints (rank 0), then the
// shard's labels and predictions of both parts, then done. A lost peer is
// ABORTED ("collective fit: another worker was lost or failed").
absl::Status RunShard(TrainSources& sources,
                      const v1::TrainShardRequest& request, int64_t frame_rows,
                      int checkpoint_every, const ShardReporter& report);

// In the replica: runs `argv` (the shard binary and its flags) fed
// `request`, passes each report to `on_report`, kills the child once
// `cancelled()` (polled) or `on_report` fails. The child's failure as
// reported; UNAVAILABLE naming the signal when it was killed; CANCELLED when
// cancelled.
absl::Status RunShardProcess(const std::vector<std::string>& argv,
                             const v1::TrainShardRequest& request,
                             const ShardReporter& on_report,
                             const std::function<bool()>& cancelled);

}  // namespace mlpipe::train

#endif  // MLPIPE_SERVICES_TRAIN_SHARD_H_
