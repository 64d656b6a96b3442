// Hyper-parameter search spaces: a candidate's params expand into trials.
// A value is fixed (number, string, bool), a list (grid values; random
// search draws among them) or a range {min, max, log, int} (random search
// only). gRPC- and storage-free.
#ifndef MLPIPE_CLIENTS_TRAIN_REQUEST_H_
#define MLPIPE_CLIENTS_TRAIN_REQUEST_H_

#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/train_service.pb.h"

namespace mlpipe::train {

// At most this many trials per candidate (a grid larger than this is
// refused naming the candidate).
inline constexpr int kMaxTrialsPerCandidate = 1000;
// At most this many processes train one distributed model.
inline constexpr int kMaxDistributedWorkers = 64;

// The trials' parameter settings for candidate `index` of a request: the
// grid's cartesian product in order (the last key varying fastest), or
// `search.trials` seeded draws. INVALID_ARGUMENT naming
// "candidates[i].params.<name>" for a malformed value, a range in a grid
// search, or too many trials.
absl::StatusOr<std::vector<google::protobuf::Struct>> ExpandTrials(
    const v1::Candidate& candidate, const v1::SearchSpec& search, int index);

// Checks a request before its job starts: candidates present, named
// uniquely, known algorithms that suit the task (when given), search
// settings, search spaces well formed, distributed only for GBDT without
// folds. INVALID_ARGUMENT naming the field.
absl::Status CheckTrainingRequest(const v1::StartTrainingRequest& request);

}  // namespace mlpipe::train

#endif  // MLPIPE_CLIENTS_TRAIN_REQUEST_H_
