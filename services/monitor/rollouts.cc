#include "services/monitor/rollouts.h"

#include <algorithm>

#include "common/util/strings.h"

namespace mlpipe::monitor {
namespace {

using canary::Action;

// The canary's share of the route the rollout wants: the step's while it
// runs (and once aborted: the route is left as it was), 100 once promoted,
// 0 once rolled back.
int WantedShare(const v1::Rollout& r, const canary::RolloutPlan& plan) {
  switch (r.state()) {
    case v1::Rollout::PROMOTED:
      return 100;
    case v1::Rollout::ROLLED_BACK:
      return 0;
    default:
      return plan.steps[r.step()];
  }
}

v1::RolloutCheck CheckRecord(const canary::Analysis& a, Action action,
                             int share, int64_t now_micros) {
  v1::RolloutCheck c;
  c.set_time_micros(now_micros);
  c.set_share(share);
  c.set_decision(canary::DecisionName(a.decision));
  c.set_action(canary::ActionName(action));
  for (const auto& k : a.criteria) {
    auto* r = c.add_criteria();
    r->set_name(k.name);
    r->set_estimate(k.estimate);
    r->set_lower(k.lower);
    r->set_upper(k.upper);
    r->set_bound(k.bound);
    r->set_verdict(canary::VerdictName(k.verdict));
    r->set_why(k.why);
  }
  c.set_prediction_shift_psi(a.prediction_shift_psi);
  c.set_reason(a.reason);
  return c;
}

}  // namespace

bool RolloutActive(const v1::Rollout& r) {
  return r.state() == v1::Rollout::RUNNING || r.state() == v1::Rollout::PAUSED;
}

absl::StatusOr<std::unique_ptr<Rollouts>> Rollouts::Open(
    storage::Store* store, events::EventLog* events) {
  std::unique_ptr<Rollouts> r(new Rollouts(store, events));
  auto it = store->Scan(kRollouts, "");
  for (; it->Valid(); it->Next()) {
    const std::string alias(it->key());
    v1::Rollout stored;
    auto bad = [&](const std::string& why) {
      return absl::DataLossError(StrCat("rollout ", alias, ": ", why));
    };
    if (!stored.ParseFromArray(it->value().data(),
                               static_cast<int>(it->value().size())))
      return bad("unreadable");
    auto plan = canary::PlanFromProto(stored.plan());
    if (!plan.ok()) return bad(std::string(plan.status().message()));
    if (stored.step() < 0 ||
        stored.step() >= static_cast<int>(plan->steps.size()))
      return bad("step out of its plan");
    auto c = canary::ArmEvidence::FromProto(stored.canary_evidence());
    auto p = canary::ArmEvidence::FromProto(stored.primary_evidence());
    if (!c.ok()) return bad(std::string(c.status().message()));
    if (!p.ok()) return bad(std::string(p.status().message()));
    stored.clear_canary_evidence();
    stored.clear_primary_evidence();
    r->live_.emplace(alias, Live{std::move(stored), *std::move(plan),
                                 *std::move(c), *std::move(p)});
  }
  if (auto s = it->status(); !s.ok()) return s;
  return r;
}

absl::Status Rollouts::Start(const RolloutStart& start, int64_t now_micros) {
  auto p = canary::PlanFromProto(start.plan);
  if (!p.ok()) return p.status();
  if (start.alias.empty()) return absl::InvalidArgumentError("alias: required");
  if (start.canary.empty() || start.canary == start.primary) {
    return absl::InvalidArgumentError(
        "canary, primary: two different model versions are required");
  }
  std::lock_guard lock(mu_);
  std::string superseded;
  storage::WriteBatch batch;
  std::vector<v1::Event> events;
  if (auto it = live_.find(start.alias);
      it != live_.end() && RolloutActive(it->second.rollout)) {
    const v1::Rollout& running = it->second.rollout;
    if (!start.supersede || running.canary() == start.canary) {
      return absl::AlreadyExistsError(
          StrCat("alias ", start.alias, ": a rollout of ", running.canary(),
                 " runs; abort it first"));
    }
    // Ended in the same write as the new one starts.
    Live old = it->second;
    old.rollout.set_state(v1::Rollout::ABORTED);
    old.rollout.set_reason(StrCat("superseded by the rollout of ", start.canary,
                                  " (", start.started_by, ")"));
    Stage(old, "rollout.aborted", start.started_by, &batch, &events);
    superseded = running.canary();
  }
  v1::Rollout r;
  r.set_alias(start.alias);
  r.set_canary(start.canary);
  r.set_primary(start.primary);
  r.set_fallback(start.fallback);
  r.set_started_by(start.started_by);
  r.set_superseded(superseded);
  if (start.latency_budget_ms)
    r.set_latency_budget_ms(*start.latency_budget_ms);
  r.set_force_schema_change(start.force_schema_change);
  r.set_route_revision(start.route_revision);
  *r.mutable_plan() = canary::PlanToProto(*p);  // Its defaults written out.
  r.set_state(v1::Rollout::RUNNING);
  if (start.primary.empty()) {
    r.set_state(v1::Rollout::PROMOTED);
    r.set_reason(
        "nothing served the alias: the canary takes it without analysis");
  }
  r.set_started_micros(now_micros);
  r.set_step_started_micros(now_micros);
  r.set_last_check_micros(now_micros);
  Live live{std::move(r), *std::move(p),
            canary::ArmEvidence(start.task, start.classes),
            canary::ArmEvidence(start.task, start.classes)};
  Stage(live, start.primary.empty() ? "rollout.promoted" : "rollout.started",
        start.started_by, &batch, &events);
  if (auto s = Commit(std::move(batch), std::move(events)); !s.ok()) return s;
  live_.insert_or_assign(start.alias, std::move(live));
  return absl::OkStatus();
}

void Rollouts::OnLogged(const std::vector<v1::PredictionRecord>& records) {
  std::lock_guard lock(mu_);
  bool any = false;
  for (const auto& [alias, l] : live_) any |= RolloutActive(l.rollout);
  if (!any) return;
  for (const auto& r : records) {
    if (r.shadow() || r.request_row() != 0) continue;
    const std::string& version = r.fallback() && !r.routed_version().empty()
                                     ? r.routed_version()
                                     : r.model_version();
    auto it = live_.find(r.alias());  // The rollout of the route it came by.
    if (it != live_.end()) {
      Live& l = it->second;
      if (!RolloutActive(l.rollout)) continue;
      if (version == l.rollout.canary()) {
        l.canary_arm.AddRequest(r.latency_seconds(), r.fallback());
      } else if (version == l.rollout.primary()) {
        l.primary_arm.AddRequest(r.latency_seconds(), r.fallback());
      }
    }
  }
}

std::vector<std::string> Rollouts::Aliases(bool running_only) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [alias, l] : live_)
    if (!running_only || RolloutActive(l.rollout)) out.push_back(alias);
  return out;
}

absl::Status Rollouts::OnActual(const std::string& alias,
                                const std::string& version,
                                const std::vector<double>& scores,
                                const std::string& label,
                                const google::protobuf::Value& actual) {
  std::lock_guard lock(mu_);
  auto it = live_.find(alias);
  if (it == live_.end() || !RolloutActive(it->second.rollout))
    return absl::OkStatus();
  Live& l = it->second;
  canary::ArmEvidence* arm = version == l.rollout.canary()    ? &l.canary_arm
                             : version == l.rollout.primary() ? &l.primary_arm
                                                              : nullptr;
  if (arm == nullptr) return absl::OkStatus();
  return arm->AddActual(scores, label, actual);
}

absl::StatusOr<std::vector<RolloutAction>> Rollouts::Check(int64_t now_micros) {
  std::lock_guard lock(mu_);
  std::vector<RolloutAction> out;
  for (auto& [alias, l] : live_) {
    if (l.rollout.state() != v1::Rollout::RUNNING) continue;
    const auto interval = static_cast<int64_t>(l.plan.interval_seconds * 1e6);
    if (now_micros - l.rollout.last_check_micros() < interval) continue;
    Live next = l;  // Kept only once written.
    RolloutAction a = CheckOne(next, now_micros);
    const char* topic = a.action == Action::kAdvance    ? "rollout.advanced"
                        : a.action == Action::kPromote  ? "rollout.promoted"
                        : a.action == Action::kRollback ? "rollout.rolled_back"
                                                        : "";
    if (auto s = Persist(next, topic, "monitor:rollout"); !s.ok()) return s;
    l = std::move(next);
    if (a.action != Action::kNone) out.push_back(std::move(a));
  }
  return out;
}

RolloutAction Rollouts::CheckOne(Live& l, int64_t now_micros) {
  v1::Rollout& r = l.rollout;
  const canary::Analysis analysis =
      canary::Analyze(l.canary_arm, l.primary_arm, l.plan.analysis);
  canary::RolloutState state(l.plan, r.step_started_micros() / 1e6, r.step());
  const Action action = state.Check(analysis, now_micros / 1e6);
  *r.add_checks() =
      CheckRecord(analysis, action, l.plan.steps[r.step()], now_micros);
  if (r.checks_size() > kMaxRolloutChecks) {
    r.mutable_checks()->DeleteSubrange(0, r.checks_size() - kMaxRolloutChecks);
  }
  r.set_last_check_micros(now_micros);
  RolloutAction a{r.alias(),  action,      0,
                  r.canary(), r.primary(), analysis.reason};
  if (action != Action::kNone) {
    r.set_route_applied(false);
    r.clear_route_error();
  }
  switch (action) {
    case Action::kAdvance:
      r.set_step(state.step());
      r.set_step_started_micros(now_micros);
      a.share = state.share();
      break;
    case Action::kPromote:
      r.set_state(v1::Rollout::PROMOTED);
      r.set_reason(analysis.reason);
      a.share = 100;
      break;
    case Action::kRollback:
      r.set_state(v1::Rollout::ROLLED_BACK);
      r.set_reason(analysis.reason);
      break;
    case Action::kNone:
      break;
  }
  return a;
}

absl::Status Rollouts::Pause(const std::string& alias,
                             const std::string& reason, const std::string& by) {
  return Stop(alias, v1::Rollout::PAUSED, reason, by, "rollout.paused");
}

absl::Status Rollouts::Abort(const std::string& alias,
                             const std::string& reason, const std::string& by) {
  return Stop(alias, v1::Rollout::ABORTED, reason, by, "rollout.aborted");
}

absl::Status Rollouts::Stop(const std::string& alias, v1::Rollout::State to,
                            const std::string& reason, const std::string& by,
                            const std::string& topic) {
  std::lock_guard lock(mu_);
  auto live = Find(alias);
  if (!live.ok()) return live.status();
  if (!RolloutActive((*live)->rollout)) {
    return absl::FailedPreconditionError(
        StrCat("alias ", alias, ": its rollout has ended (",
               v1::Rollout::State_Name((*live)->rollout.state()), ")"));
  }
  Live next = **live;  // Kept only once written.
  next.rollout.set_state(to);
  next.rollout.set_reason(reason);
  if (auto s = Persist(next, topic, by); !s.ok()) return s;
  **live = std::move(next);
  return absl::OkStatus();
}

absl::Status Rollouts::Resume(const std::string& alias, int64_t now_micros,
                              const std::string& by) {
  std::lock_guard lock(mu_);
  auto live = Find(alias);
  if (!live.ok()) return live.status();
  if ((*live)->rollout.state() != v1::Rollout::PAUSED) {
    return absl::FailedPreconditionError(StrCat(
        "alias ", alias, ": its rollout is ",
        v1::Rollout::State_Name((*live)->rollout.state()), ", not PAUSED"));
  }
  Live next = **live;
  next.rollout.set_state(v1::Rollout::RUNNING);
  next.rollout.clear_reason();
  next.rollout.set_step_started_micros(now_micros);  // Holds afresh.
  if (auto s = Persist(next, "rollout.resumed", by); !s.ok()) return s;
  **live = std::move(next);
  return absl::OkStatus();
}

absl::StatusOr<Rollouts::Live*> Rollouts::Find(const std::string& alias) {
  auto it = live_.find(alias);
  if (it == live_.end())
    return absl::NotFoundError(StrCat("alias ", alias, ": no rollout"));
  return &it->second;
}

absl::StatusOr<v1::Rollout> Rollouts::Get(const std::string& alias) const {
  std::lock_guard lock(mu_);
  auto it = live_.find(alias);
  if (it == live_.end())
    return absl::NotFoundError(StrCat("alias ", alias, ": no rollout"));
  return Snapshot(it->second);
}

v1::Rollout Rollouts::Snapshot(const Live& l) const {
  v1::Rollout r = l.rollout;
  r.set_share(std::max(0, WantedShare(r, l.plan)));
  *r.mutable_canary_evidence() = l.canary_arm.ToProto();
  *r.mutable_primary_evidence() = l.primary_arm.ToProto();
  return r;
}

void Rollouts::Stage(const Live& l, const std::string& topic,
                     const std::string& by, storage::WriteBatch* batch,
                     std::vector<v1::Event>* events) const {
  const v1::Rollout& r = l.rollout;
  batch->Put(kRollouts, r.alias(), Snapshot(l).SerializeAsString());
  if (topic.empty()) return;
  events->push_back(
      events::EventLog::Make(topic, {{"alias", r.alias()},
                                     {"canary", r.canary()},
                                     {"primary", r.primary()},
                                     {"share", StrCat(WantedShare(r, l.plan))},
                                     {"reason", r.reason()},
                                     {"set_by", by}}));
}

absl::Status Rollouts::Commit(storage::WriteBatch batch,
                              std::vector<v1::Event> events) {
  if (events_ == nullptr) return store_->Write(std::move(batch));
  return events_->Commit(std::move(batch), std::move(events));
}

absl::Status Rollouts::Persist(const Live& l, const std::string& topic,
                               const std::string& by) {
  storage::WriteBatch batch;
  std::vector<v1::Event> events;
  Stage(l, topic, by, &batch, &events);
  return Commit(std::move(batch), std::move(events));
}

std::vector<v1::Rollout> Rollouts::List() const {
  std::lock_guard lock(mu_);
  std::vector<v1::Rollout> out;
  for (const auto& [alias, l] : live_) {
    v1::Rollout r = Snapshot(l);
    if (r.checks_size() > 1)
      r.mutable_checks()->DeleteSubrange(0, r.checks_size() - 1);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<RouteWanted> Rollouts::Unapplied() const {
  std::lock_guard lock(mu_);
  std::vector<RouteWanted> out;
  for (const auto& [alias, l] : live_) {
    const v1::Rollout& r = l.rollout;
    if (r.route_applied() || r.state() == v1::Rollout::ABORTED) continue;
    RouteWanted w{alias,          r.canary(),     r.primary(),
                  r.superseded(), r.started_by(), r.state()};
    w.share = WantedShare(r, l.plan);
    w.fallback = r.fallback();
    w.route_revision = r.route_revision();
    if (r.has_latency_budget_ms()) w.latency_budget_ms = r.latency_budget_ms();
    w.force_schema_change = r.force_schema_change();
    const std::string why =
        r.checks().empty() ? r.reason() : r.checks().rbegin()->reason();
    w.reason =
        StrCat("rollout of ", r.canary(), ": ",
               w.state == v1::Rollout::PROMOTED      ? "promoted"
               : w.state == v1::Rollout::ROLLED_BACK ? "rolled back"
                                                     : "canary at ",
               w.state == v1::Rollout::RUNNING || w.state == v1::Rollout::PAUSED
                   ? StrCat(w.share, "%")
                   : "",
               why.empty() ? "" : StrCat(": ", why));
    out.push_back(std::move(w));
  }
  return out;
}

absl::Status Rollouts::MarkApplied(const RouteWanted& wanted, int64_t revision,
                                   const std::string& error) {
  std::lock_guard lock(mu_);
  auto live = Find(wanted.alias);
  if (!live.ok()) return live.status();
  const v1::Rollout& r = (*live)->rollout;
  if (r.canary() != wanted.canary || r.state() != wanted.state ||
      WantedShare(r, (*live)->plan) != wanted.share) {
    return absl::OkStatus();  // Changed since: its own route comes next.
  }
  if (!error.empty() && revision >= 0 && error == r.route_error())
    return absl::OkStatus();  // Still failing as recorded: retried.
  Live next = **live;
  if (error.empty()) {
    next.rollout.set_route_applied(true);
    next.rollout.set_route_revision(revision);
    next.rollout.clear_route_error();
  } else {
    next.rollout.set_route_applied(revision < 0);
    next.rollout.set_route_error(error);
  }
  if (auto s = Persist(next); !s.ok()) return s;
  **live = std::move(next);
  return absl::OkStatus();
}

}  // namespace mlpipe::monitor
