// Checks of a Prepare request that need no data: used by the prep service
// before it starts the operation, and by the orchestrator when it validates a
// pipeline's `prepare` step before the run starts.
#ifndef MLPIPE_CLIENTS_PREPARE_REQUEST_H_
#define MLPIPE_CLIENTS_PREPARE_REQUEST_H_

#include "absl/status/status.h"
#include "mlpipe/v1/prep_service.pb.h"

namespace mlpipe::prep {

// INVALID_ARGUMENT naming the field (transforms[i].key, select, fit_on, ...);
// FAILED_PRECONDITION for what this build cannot do yet (fit_on.split).
absl::Status CheckPrepareRequest(const v1::PrepareRequest& request);

}  // namespace mlpipe::prep

#endif  // MLPIPE_CLIENTS_PREPARE_REQUEST_H_
