#include "services/monitor/rollout_driver.h"

#include <cmath>
#include <set>

#include "clients/routes.h"
#include "clients/score_client.h"
#include "common/ml/artifact.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/monitor/monitor_metrics.h"

namespace mlpipe::monitor {
namespace {

// A refusal that trying again will not change (a canary that does not load,
// a schema that differs, a caller not allowed).
bool Permanent(const absl::Status& s) {
  return absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) ||
         absl::IsNotFound(s) || absl::IsPermissionDenied(s);
}

void AddTarget(v1::DeployRequest* d, const std::string& version,
               double percent) {
  auto* t = d->add_traffic();
  t->set_model_version(version);
  t->set_percent(percent);
}

// The deploy that gives the route what `w` wants, from the route at
// `w.route_revision` (refused if it changed meanwhile). The fallback is
// always explicit: the one from before the rollout while the primary leads
// (and after a rollback), the primary once the canary leads.
v1::DeployRequest DeployFor(const RouteWanted& w, int64_t expected_revision) {
  v1::DeployRequest d;
  d.set_alias(w.alias);
  // The monitor, on behalf of whoever started the rollout.
  d.set_set_by(StrCat("monitor:rollout/", w.started_by));
  d.set_reason(w.reason);
  d.set_expected_revision(expected_revision);
  if (w.latency_budget_ms) d.set_latency_budget_ms(*w.latency_budget_ms);
  d.set_force_schema_change(w.force_schema_change);
  if (w.share >= 100) {  // The canary alone.
    AddTarget(&d, w.canary, 100);
  } else if (w.share <= 0) {  // Rolled back.
    AddTarget(&d, w.primary, 100);
  } else {  // Primary first: at 50% it stays the primary.
    AddTarget(&d, w.primary, 100 - w.share);
    AddTarget(&d, w.canary, w.share);
  }
  d.set_fallback(w.share > 50 ? w.primary : w.fallback);
  return d;
}

// Why a rollout stops when its route's revision moved under it.
std::string ChangedOutside(const v1::Route* route, int64_t revision) {
  if (route == nullptr) return "the route was removed outside the rollout";
  return StrCat("the route was changed outside the rollout (revision ",
                revision, " by ", route->updated_by(), ")");
}

// Whether `route` serves exactly the split `d` sets.
bool Serves(const v1::Route& route, const v1::DeployRequest& d) {
  if (route.targets_size() != d.traffic_size()) return false;
  for (const auto& want : d.traffic()) {
    bool found = false;
    for (const auto& t : route.targets())
      found |= t.model_version() == want.model_version() &&
               std::abs(t.percent() - want.percent()) < 1e-6;
    if (!found) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<v1::Rollout> RolloutDriver::Start(
    const v1::StartRolloutRequest& req, int64_t now_micros) {
  if (req.model_version().empty())
    return absl::InvalidArgumentError("model_version: required");
  auto model = models_->GetModel(req.model_version());
  if (!model.ok()) return model.status();
  if (auto s = ml::CheckArtifactFor(*model, req.model_version()); !s.ok())
    return s;
  const std::string canary = model->id();
  auto key = score::QualifiedAlias(
      score::ModelNameOf(canary),
      req.alias().empty() ? std::string(score::kDefaultAlias) : req.alias());
  if (!key.ok()) return key.status();
  auto deployments = score::ListDeployments(score_());
  if (!deployments.ok()) return deployments.status();
  const v1::Route* route = score::FindRoute(*deployments, *key);
  std::string primary = route ? score::PrimaryOf(*route) : "";
  auto existing = rollouts_->Get(*key);
  const bool running = existing.ok() && RolloutActive(*existing);
  if (running && existing->canary() == canary) return existing;  // Started.
  if (existing.ok() && existing->canary() == canary &&
      existing->state() == v1::Rollout::PROMOTED && primary == canary)
    return existing;  // Promoted by its rollout.
  // A newer canary supersedes a running rollout's: compared with the same
  // primary, the older canary dropped from the route at its first step.
  const std::string superseded = running ? existing->canary() : "";
  if (running) primary = existing->primary();
  if (primary == canary) {
    if (running) {
      return absl::FailedPreconditionError(StrCat(
          canary, " is the primary the running rollout of ", superseded, " on ",
          *key,
          " compares with; to keep it alone, abort that "
          "rollout and roll back (mlpipe rollout abort; mlpipe rollback)"));
    }
    auto plan = canary::PlanFromProto(req.plan());
    if (!plan.ok()) return plan.status();
    v1::Rollout r;  // Not stored: nothing to roll out.
    r.set_alias(*key);
    r.set_canary(canary);
    *r.mutable_plan() = canary::PlanToProto(*plan);
    r.set_state(v1::Rollout::PROMOTED);
    r.set_step(r.plan().steps_size() - 1);
    r.set_share(100);
    r.set_started_micros(now_micros);
    r.set_started_by(req.set_by());
    r.set_reason(StrCat(canary, " is the alias's primary already"));
    r.set_route_applied(true);
    r.set_route_revision(route->revision());
    return r;
  }
  if (route != nullptr) {
    for (const auto& t : route->targets()) {
      if (t.model_version() != primary && t.model_version() != canary &&
          t.model_version() != superseded) {
        return absl::FailedPreconditionError(
            StrCat("alias ", *key, " splits its traffic (", t.model_version(),
                   " serves ", t.percent(), "% beside ", primary,
                   "); a rollout needs one primary"));
      }
    }
  }
  RolloutStart start{
      .alias = *key,
      .canary = canary,
      .primary = primary,
      .fallback = running ? existing->fallback()
                  : route ? route->fallback()
                          : "",
      .started_by = req.set_by().empty() ? "user:unknown" : req.set_by(),
      .supersede = true,
      .route_revision = route ? route->revision() : 0,
      .force_schema_change = req.force_schema_change(),
      .task = model->task(),
      .classes = {model->classes().begin(), model->classes().end()},
      .plan = req.plan()};
  if (req.has_latency_budget_ms())
    start.latency_budget_ms = req.latency_budget_ms();
  if (auto s = rollouts_->Start(start, now_micros); !s.ok()) {
    // The same start, concurrently: the one that won.
    auto now = rollouts_->Get(*key);
    if (absl::IsAlreadyExists(s) && now.ok() && now->canary() == canary)
      return now;
    return s;
  }
  LogInfo("rollout started", {{"alias", *key},
                              {"canary", canary},
                              {"primary", primary},
                              {"superseded", superseded},
                              {"set_by", start.started_by}});
  return rollouts_->Get(*key);
}

absl::Status RolloutDriver::Tick(int64_t now_micros) {
  auto actions = rollouts_->Check(now_micros);
  if (!actions.ok()) return actions.status();
  for (const auto& a : *actions) {
    CountRolloutAction(canary::ActionName(a.action));
    LogInfo("rollout checked", {{"alias", a.alias},
                                {"canary", a.canary},
                                {"action", canary::ActionName(a.action)},
                                {"share", StrCat(a.share)},
                                {"reason", a.reason}});
  }
  for (const auto& w : rollouts_->Unapplied())
    if (auto s = Apply(w); !s.ok()) return s;
  const std::vector<v1::Rollout> all = rollouts_->List();
  for (const auto& r : all) RecordRollout(r);
  return Watch(all);
}

absl::Status RolloutDriver::Watch(const std::vector<v1::Rollout>& rollouts) {
  std::vector<const v1::Rollout*> held;
  for (const auto& r : rollouts)
    if (RolloutActive(r) && r.route_applied()) held.push_back(&r);
  if (held.empty()) return absl::OkStatus();
  auto deployments = score::ListDeployments(score_());
  if (!deployments.ok()) return absl::OkStatus();  // Next time.
  for (const v1::Rollout* r : held) {
    const v1::Route* route = score::FindRoute(*deployments, r->alias());
    const int64_t revision = route ? route->revision() : 0;
    if (revision == r->route_revision()) continue;
    const std::string why = ChangedOutside(route, revision);
    LogWarning("rollout aborted", {{"alias", r->alias()}, {"reason", why}});
    auto s = rollouts_->Abort(r->alias(), why, "monitor:rollout");
    if (!s.ok() && !absl::IsFailedPrecondition(s)) return s;
  }
  return absl::OkStatus();
}

absl::Status RolloutDriver::GiveUp(const RouteWanted& w,
                                   const std::string& why) {
  LogWarning("rollout route not set", {{"alias", w.alias}, {"reason", why}});
  if (w.state == v1::Rollout::RUNNING || w.state == v1::Rollout::PAUSED)
    return rollouts_->Abort(w.alias, why, "monitor:rollout");
  return rollouts_->MarkApplied(w, -1, why);  // Ended: as it is.
}

absl::Status RolloutDriver::Apply(const RouteWanted& w) {
  auto channel = score_();
  auto deployments = score::ListDeployments(channel);
  if (!deployments.ok()) {
    return rollouts_->MarkApplied(
        w, 0,
        StrCat("cannot read the routes: ",
               std::string(deployments.status().message())));
  }
  const v1::Route* route = score::FindRoute(*deployments, w.alias);
  const int64_t revision = route ? route->revision() : 0;
  v1::DeployRequest deploy = DeployFor(w, revision);
  // Set already (a crash between setting it and recording that).
  if (route != nullptr && Serves(*route, deploy) &&
      route->updated_by() == deploy.set_by() &&
      route->reason() == deploy.reason())
    return rollouts_->MarkApplied(w, revision, "");
  // Changed by someone else since the rollout last set it (or started):
  // theirs stands.
  if (revision != w.route_revision) {
    return GiveUp(w, ChangedOutside(route, revision));
  }
  auto deployed = score::Deploy(channel, deploy);
  if (!deployed.ok()) {
    const std::string error(deployed.status().message());
    LogWarning("cannot set a rollout's route",
               {{"alias", w.alias}, {"error", error}});
    if (!Permanent(deployed.status()))
      return rollouts_->MarkApplied(w, 0, error);  // Tried again.
    return GiveUp(w, StrCat("the scoring service refused its route: ", error));
  }
  LogInfo("rollout route set",
          {{"alias", w.alias},
           {"canary", w.canary},
           {"share", StrCat(w.share)},
           {"revision", StrCat(deployed->route().revision())}});
  return rollouts_->MarkApplied(w, deployed->route().revision(), "");
}

}  // namespace mlpipe::monitor
