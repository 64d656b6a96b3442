#include "services/monitor/rollout_driver.h"

#include <set>

#include "clients/routes.h"
#include "clients/score_client.h"
#include "common/ml/artifact.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/monitor/monitor_metrics.h"

namespace mlpipe::monitor {
namespace {

bool Active(const v1::Rollout& r) {
  return r.state() == v1::Rollout::RUNNING || r.state() == v1::Rollout::PAUSED;
}

// A refusal that trying again will not change (a canary that does not load,
// a schema that differs, a caller not allowed).
bool Permanent(const absl::Status& s) {
  return absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) ||
         absl::IsNotFound(s) || absl::IsPermissionDenied(s);
}

const v1::Route* FindRoute(const v1::ListDeploymentsResponse& deployments,
                           const std::string& key) {
  for (const auto& r : deployments.routes())
    if (r.alias() == key) return &r;
  return nullptr;
}

void AddTarget(v1::DeployRequest* d, const std::string& version,
               double percent) {
  auto* t = d->add_traffic();
  t->set_model_version(version);
  t->set_percent(percent);
}

// The deploy that gives the route what `w` wants.
v1::DeployRequest DeployFor(const RouteWanted& w) {
  v1::DeployRequest d;
  d.set_alias(w.alias);
  // The monitor, on behalf of whoever started the rollout.
  d.set_set_by(StrCat("monitor:rollout/", w.started_by));
  d.set_reason(w.reason);
  if (w.share >= 100) {  // The canary alone; the primary its fallback.
    AddTarget(&d, w.canary, 100);
    if (!w.primary.empty()) d.set_fallback(w.primary);
  } else if (w.share <= 0) {  // Rolled back: as before the rollout.
    AddTarget(&d, w.primary, 100);
    d.set_fallback(w.fallback);
  } else {  // Primary first: at 50% it stays the primary.
    AddTarget(&d, w.primary, 100 - w.share);
    AddTarget(&d, w.canary, w.share);
  }
  return d;
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
  const v1::Route* route = FindRoute(*deployments, *key);
  std::string primary = route ? score::PrimaryOf(*route) : "";
  auto existing = rollouts_->Get(*key);
  const bool running = existing.ok() && Active(*existing);
  if (running && existing->canary() == canary) return existing;  // Started.
  if (existing.ok() && existing->canary() == canary && primary == canary)
    return existing;  // Promoted by its rollout.
  // A newer canary supersedes a running rollout's: compared with the same
  // primary, the older canary dropped from the route at its first step.
  const std::string superseded = running ? existing->canary() : "";
  if (running) primary = existing->primary();
  if (primary == canary) {
    auto plan = canary::PlanFromProto(req.plan());
    if (!plan.ok()) return plan.status();
    v1::Rollout r;
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
      .task = model->task(),
      .classes = {model->classes().begin(), model->classes().end()},
      .plan = req.plan()};
  if (auto s = rollouts_->Start(start, now_micros); !s.ok()) return s;
  LogInfo("rollout started", {{"alias", *key},
                              {"canary", canary},
                              {"primary", primary},
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
  for (const auto& r : rollouts_->List()) RecordRollout(r);
  return absl::OkStatus();
}

absl::Status RolloutDriver::GiveUp(const RouteWanted& w,
                                   const std::string& why) {
  if (w.state == v1::Rollout::RUNNING || w.state == v1::Rollout::PAUSED)
    return rollouts_->Abort(w.alias, why);
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
  if (const v1::Route* route = FindRoute(*deployments, w.alias)) {
    const std::set<std::string> known = {w.canary, w.primary, w.superseded};
    for (const auto& t : route->targets()) {
      if (known.contains(t.model_version())) continue;
      const std::string why = StrCat(
          "the route was changed outside the rollout: ", t.model_version(),
          " serves it (by ", route->updated_by(), ")");
      LogWarning("rollout route not set",
                 {{"alias", w.alias}, {"reason", why}});
      return GiveUp(w, why);
    }
  }
  auto deployed = score::Deploy(channel, DeployFor(w));
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
