// The canary rollouts the monitor drives (gRPC-free): per alias, the plan,
// the canary and primary versions, each arm's evidence since the rollout
// started (canary.h), where the plan is, and the checks so far. Fed with
// the two versions' requests and joined actuals; Check, called as time
// passes, analyzes each running rollout once an interval and says what to
// do with its route (advance the canary's share, promote it, roll it back).
// Persisted in the store's "rollouts" column family at every check and
// change, so a restart resumes where the last check left it (evidence fed
// since then is lost: at most one interval's). Every change of state is
// written with its event (rollout.started, .advanced, .promoted,
// .rolled_back, .paused, .resumed, .aborted) in one write.
//
// The route a rollout wants is kept apart from whether the scoring service
// has it yet (Rollout.route_applied): a check decides and records, and the
// monitor sets the route afterwards (Unapplied, then MarkApplied), retrying
// until it holds; a crash between the two sets it on the next start.
#ifndef MLPIPE_SERVICES_MONITOR_ROLLOUTS_H_
#define MLPIPE_SERVICES_MONITOR_ROLLOUTS_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/storage/store.h"
#include "mlpipe/v1/monitor.pb.h"
#include "mlpipe/v1/prediction.pb.h"
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

// Running or paused: gathering evidence, its route the rollout's.
bool RolloutActive(const v1::Rollout& r);

// A rollout to start.
struct RolloutStart {
  std::string alias;     // The route's key ("credit@production").
  std::string canary;    // Model versions.
  std::string primary;   // "": nothing serves the alias (promoted at once).
  std::string fallback;  // The route's fallback now (rolling back restores).
  std::string started_by;
  // Supersede a running rollout of another canary (abort it, reason
  // naming this one) instead of ALREADY_EXISTS.
  bool supersede = false;
  int64_t route_revision = 0;               // The route's now (0: none).
  std::optional<double> latency_budget_ms;  // Set on every route it sets.
  bool force_schema_change = false;
  v1::Task task = v1::BINARY;        // The model's, as PerformanceAccumulator
  std::vector<std::string> classes;  // takes them.
  v1::RolloutPlan plan;
};

// The route a rollout wants and has not set yet.
struct RouteWanted {
  std::string alias, canary, primary;
  std::string superseded;  // Another canary the route may still serve.
  std::string started_by;
  v1::Rollout::State state;
  int share = 0;         // The canary's (RUNNING, PAUSED); 100 once PROMOTED.
  std::string fallback;  // ROLLED_BACK: the fallback to restore.
  std::string reason;    // For the route's record.
  int64_t route_revision = 0;  // The route's as the rollout last set it.
  std::optional<double> latency_budget_ms;
  bool force_schema_change = false;
};

// Thread-safe.
class Rollouts {
 public:
  // Loads the stored rollouts. `store` outlives it and has kRollouts;
  // `events` (may be null) receives the rollout.* events.
  static absl::StatusOr<std::unique_ptr<Rollouts>> Open(
      storage::Store* store, events::EventLog* events = nullptr);

  // Starts a rollout of `canary` against `primary` on `alias`; without a
  // primary it is PROMOTED at once (the canary takes the alias).
  // INVALID_ARGUMENT naming a bad plan field; ALREADY_EXISTS while one runs
  // on the alias (of another canary: unless `supersede`).
  absl::Status Start(const RolloutStart& start, int64_t now_micros);
  // The logged predictions' requests, as evidence of the rollout of the
  // alias each came by (each request counted once, at its row 0; shadows
  // skipped; a fallback's answer an error of the version routed to).
  void OnLogged(const std::vector<v1::PredictionRecord>& records);
  // The aliases with a rollout (running only, or any).
  std::vector<std::string> Aliases(bool running_only) const;
  // A prediction of one of its versions, that came by `alias`, and the
  // actual that came for it. INVALID_ARGUMENT as PerformanceAccumulator::Add.
  absl::Status OnActual(const std::string& alias, const std::string& version,
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
  // `by` is recorded in the event.
  absl::Status Pause(const std::string& alias, const std::string& reason,
                     const std::string& by = "");
  absl::Status Resume(const std::string& alias, int64_t now_micros,
                      const std::string& by = "");
  absl::Status Abort(const std::string& alias, const std::string& reason,
                     const std::string& by = "");
  // The rollout on `alias` (the latest, ended or not), evidence included.
  absl::StatusOr<v1::Rollout> Get(const std::string& alias) const;
  // Every rollout, with its evidence and its last check only (for gauges
  // and listings).
  std::vector<v1::Rollout> List() const;

  // The routes rollouts want that the scoring service does not have yet.
  std::vector<RouteWanted> Unapplied() const;
  // The route of `alias` was set (revision) as `wanted` said, or could not
  // be (error, recorded; retried, or not with revision -1: given up).
  // Ignored when the rollout has changed since (a newer wanted route).
  absl::Status MarkApplied(const RouteWanted& wanted, int64_t revision,
                           const std::string& error);

 private:
  struct Live {
    v1::Rollout rollout;  // Without its evidence (in the two arms).
    canary::RolloutPlan plan;
    canary::ArmEvidence canary_arm, primary_arm;
  };
  Rollouts(storage::Store* store, events::EventLog* events)
      : store_(store), events_(events) {}
  // The rollout with its evidence, as stored. REQUIRES: mu_ held.
  v1::Rollout Snapshot(const Live& live) const;
  // Adds its record, and its event `topic` (none for "") by `by`, to a
  // write. REQUIRES: mu_ held.
  void Stage(const Live& live, const std::string& topic, const std::string& by,
             storage::WriteBatch* batch, std::vector<v1::Event>* events) const;
  absl::Status Commit(storage::WriteBatch batch, std::vector<v1::Event> events);
  // Writes it with its event. REQUIRES: mu_ held. Callers change a copy
  // and keep it only once written.
  absl::Status Persist(const Live& live, const std::string& topic = "",
                       const std::string& by = "");
  // One check of a running rollout. REQUIRES: mu_ held.
  RolloutAction CheckOne(Live& live, int64_t now_micros);
  // Pause or abort. REQUIRES: mu_ not held.
  absl::Status Stop(const std::string& alias, v1::Rollout::State to,
                    const std::string& reason, const std::string& by,
                    const std::string& topic);
  // NOT_FOUND naming the alias. REQUIRES: mu_ held.
  absl::StatusOr<Live*> Find(const std::string& alias);

  storage::Store* const store_;
  events::EventLog* const events_;
  mutable std::mutex mu_;
  std::map<std::string, Live> live_;  // GUARDED_BY(mu_): by alias.
};

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_ROLLOUTS_H_
