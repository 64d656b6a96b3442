// The canary rollouts the monitor drives (gRPC-free): per alias, the plan,
// the canary and primary versions, each arm's evidence since the rollout
// started (canary.h), where the plan is, and the checks so far. Fed with
// the two versions' requests and joined actuals; Check, called as time
// passes, analyzes each running rollout once an interval and says what to
// do with its route (advance the canary's share, promote it, roll it back).
// Persisted in the store's "rollouts" column family at every check and
// change, so a restart resumes where the last check left it (evidence fed
// since then is lost: at most one interval's).
#ifndef MLPIPE_SERVICES_MONITOR_ROLLOUTS_H_
#define MLPIPE_SERVICES_MONITOR_ROLLOUTS_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/store.h"
#include "mlpipe/v1/monitor.pb.h"
#include "services/monitor/canary.h"

namespace mlpipe::monitor {

inline constexpr char kRollouts[] = "rollouts";
// Checks kept per rollout (the latest).
inline constexpr int kMaxRolloutChecks = 1000;

// What a check says to do with an alias's route.
struct RolloutAction {
  std::string alias;
  canary::Action action = canary::Action::kNone;
  int share = 0;  // The canary's share to set (advance), or 100 (promote).
  std::string canary, primary;
  std::string reason;
};

// Thread-safe.
class Rollouts {
 public:
  // Loads the stored rollouts. `store` outlives it and has kRollouts.
  static absl::StatusOr<std::unique_ptr<Rollouts>> Open(storage::Store* store);

  // Starts a rollout of `canary` against `primary` on `alias` (a model of
  // `task` and `classes`, as PerformanceAccumulator takes them).
  // INVALID_ARGUMENT naming a bad plan field; ALREADY_EXISTS while one runs
  // on the alias.
  absl::Status Start(const std::string& alias, const std::string& canary,
                     const std::string& primary, v1::Task task,
                     std::vector<std::string> classes,
                     const v1::RolloutPlan& plan, int64_t now_micros);
  // A request one of a running rollout's versions answered (error: it
  // failed, or its fallback answered).
  void OnRequest(const std::string& version, double latency_seconds,
                 bool error);
  // A prediction of one of its versions and the actual that came for it.
  // INVALID_ARGUMENT as PerformanceAccumulator::Add.
  absl::Status OnActual(const std::string& version,
                        const std::vector<double>& scores,
                        const std::string& label,
                        const google::protobuf::Value& actual);
  // Analyzes every running rollout whose interval since its last check has
  // passed, records the check, and returns what to do (actions other than
  // kNone). A rollout promoted or rolled back ends here.
  absl::StatusOr<std::vector<RolloutAction>> Check(int64_t now_micros);
  // Pause (no checks until resumed), resume, abort (ends it; the route is
  // left as it is). NOT_FOUND without a rollout on the alias;
  // FAILED_PRECONDITION when it has ended.
  absl::Status Pause(const std::string& alias, const std::string& reason);
  absl::Status Resume(const std::string& alias, int64_t now_micros);
  absl::Status Abort(const std::string& alias, const std::string& reason);
  // The rollout on `alias` (the latest, ended or not), evidence included.
  absl::StatusOr<v1::Rollout> Get(const std::string& alias) const;

 private:
  struct Live {
    v1::Rollout rollout;  // Without its evidence (in the two arms).
    canary::RolloutPlan plan;
    canary::ArmEvidence canary_arm, primary_arm;
  };
  explicit Rollouts(storage::Store* store) : store_(store) {}
  // The rollout with its evidence, as stored. REQUIRES: mu_ held.
  v1::Rollout Snapshot(const Live& live) const;
  absl::Status Persist(const Live& live);  // REQUIRES: mu_ held.
  // One check of a running rollout. REQUIRES: mu_ held.
  RolloutAction CheckOne(Live& live, int64_t now_micros);
  // Pause or abort. REQUIRES: mu_ not held.
  absl::Status Stop(const std::string& alias, v1::Rollout::State to,
                    const std::string& reason);
  // NOT_FOUND naming the alias. REQUIRES: mu_ held.
  absl::StatusOr<Live*> Find(const std::string& alias);

  storage::Store* const store_;
  mutable std::mutex mu_;
  std::map<std::string, Live> live_;  // GUARDED_BY(mu_): by alias.
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_ROLLOUTS_H_
