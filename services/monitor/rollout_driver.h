// Canary rollouts against the scoring service: starting one (the alias's
// route and primary, the canary's model), and the monitor loop's tick:
// check the rollouts that are due (Rollouts::Check) and set the routes they
// want on the scoring service, each as one explicit split, recorded with
// the analysis as its reason (in the route, the registry's alias history
// and the lineage). A route changed by anyone else since the rollout set it
// (an operator's deploy or rollback, an undeploy: its revision moved), or
// that the scoring service refuses for good (the canary does not load),
// aborts the rollout rather than undo the operator's change or retry
// forever.
#ifndef MLPIPE_SERVICES_MONITOR_ROLLOUT_DRIVER_H_
#define MLPIPE_SERVICES_MONITOR_ROLLOUT_DRIVER_H_

#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "mlpipe/v1/monitor_service.pb.h"
#include "services/monitor/reference.h"
#include "services/monitor/rollouts.h"

namespace mlpipe::monitor {

class RolloutDriver {
 public:
  using Channel = std::function<std::shared_ptr<grpc::Channel>()>;
  // `models` gives the canary's task and classes; all outlive it.
  RolloutDriver(Rollouts* rollouts, ReferenceSources* models, Channel score)
      : rollouts_(rollouts), models_(models), score_(std::move(score)) {}

  // Starts a rollout of `req.model_version` on the alias. Starting the one
  // that runs already returns it (a re-run pipeline); a canary that is the
  // alias's primary already returns a PROMOTED rollout, not stored.
  // A rollout of another canary running on the alias is superseded
  // (aborted, naming this one; as a new revision does in Argo Rollouts):
  // this one is compared with the same primary and replaces the older
  // canary on the route at its first step. INVALID_ARGUMENT for a bad
  // plan, NOT_FOUND for an unknown model, FAILED_PRECONDITION when the
  // route splits traffic between other versions.
  absl::StatusOr<v1::Rollout> Start(const v1::StartRolloutRequest& req,
                                    int64_t now_micros);
  // Checks the rollouts that are due and sets the routes they want. An
  // error only when the store fails; a route that cannot be set is
  // recorded in its rollout and tried again next time.
  absl::Status Tick(int64_t now_micros);

 private:
  // Sets one wanted route (or aborts the rollout, see the top).
  absl::Status Apply(const RouteWanted& wanted);
  // Aborts the running rollouts whose route someone else changed since
  // they set it (an operator's rollback or deploy, an undeploy).
  absl::Status Watch(const std::vector<v1::Rollout>& rollouts);
  // The route cannot be set: a running rollout is aborted with `why`, an
  // ended one left as the route is (recorded).
  absl::Status GiveUp(const RouteWanted& wanted, const std::string& why);

  Rollouts* const rollouts_;
  ReferenceSources* const models_;
  const Channel score_;
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_ROLLOUT_DRIVER_H_
