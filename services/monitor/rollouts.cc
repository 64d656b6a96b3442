#include "services/monitor/rollouts.h"

#include "common/util/strings.h"

namespace mlpipe::monitor {
namespace {

using canary::Action;

bool Active(const v1::Rollout& r) {
  return r.state() == v1::Rollout::RUNNING || r.state() == v1::Rollout::PAUSED;
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

absl::StatusOr<std::unique_ptr<Rollouts>> Rollouts::Open(
    storage::Store* store) {
  std::unique_ptr<Rollouts> r(new Rollouts(store));
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

absl::Status Rollouts::Start(const std::string& alias,
                             const std::string& canary,
                             const std::string& primary, v1::Task task,
                             std::vector<std::string> classes,
                             const v1::RolloutPlan& plan, int64_t now_micros) {
  auto p = canary::PlanFromProto(plan);
  if (!p.ok()) return p.status();
  if (alias.empty()) return absl::InvalidArgumentError("alias: required");
  if (canary.empty() || primary.empty() || canary == primary) {
    return absl::InvalidArgumentError(
        "canary, primary: two different model versions are required");
  }
  std::lock_guard lock(mu_);
  if (auto it = live_.find(alias);
      it != live_.end() && Active(it->second.rollout)) {
    return absl::AlreadyExistsError(StrCat("alias ", alias, ": a rollout of ",
                                           it->second.rollout.canary(),
                                           " runs; abort it first"));
  }
  v1::Rollout r;
  r.set_alias(alias);
  r.set_canary(canary);
  r.set_primary(primary);
  *r.mutable_plan() = plan;
  r.set_state(v1::Rollout::RUNNING);
  r.set_started_micros(now_micros);
  r.set_step_started_micros(now_micros);
  r.set_last_check_micros(now_micros);
  Live live{std::move(r), *std::move(p), canary::ArmEvidence(task, classes),
            canary::ArmEvidence(task, classes)};
  if (auto s = Persist(live); !s.ok()) return s;
  live_.insert_or_assign(alias, std::move(live));
  return absl::OkStatus();
}

void Rollouts::OnRequest(const std::string& version, double latency_seconds,
                         bool error) {
  std::lock_guard lock(mu_);
  for (auto& [alias, l] : live_) {
    if (!Active(l.rollout)) continue;
    if (version == l.rollout.canary()) {
      l.canary_arm.AddRequest(latency_seconds, error);
    } else if (version == l.rollout.primary()) {
      l.primary_arm.AddRequest(latency_seconds, error);
    }
  }
}

absl::Status Rollouts::OnActual(const std::string& version,
                                const std::vector<double>& scores,
                                const std::string& label,
                                const google::protobuf::Value& actual) {
  std::lock_guard lock(mu_);
  for (auto& [alias, l] : live_) {
    if (!Active(l.rollout)) continue;
    canary::ArmEvidence* arm = version == l.rollout.canary()    ? &l.canary_arm
                               : version == l.rollout.primary() ? &l.primary_arm
                                                                : nullptr;
    if (arm == nullptr) continue;
    if (auto s = arm->AddActual(scores, label, actual); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RolloutAction>> Rollouts::Check(int64_t now_micros) {
  std::lock_guard lock(mu_);
  std::vector<RolloutAction> out;
  for (auto& [alias, l] : live_) {
    if (l.rollout.state() != v1::Rollout::RUNNING) continue;
    const auto interval = static_cast<int64_t>(l.plan.interval_seconds * 1e6);
    if (now_micros - l.rollout.last_check_micros() < interval) continue;
    RolloutAction a = CheckOne(l, now_micros);
    if (auto s = Persist(l); !s.ok()) return s;
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
                             const std::string& reason) {
  return Stop(alias, v1::Rollout::PAUSED, reason);
}

absl::Status Rollouts::Abort(const std::string& alias,
                             const std::string& reason) {
  return Stop(alias, v1::Rollout::ABORTED, reason);
}

absl::Status Rollouts::Stop(const std::string& alias, v1::Rollout::State to,
                            const std::string& reason) {
  std::lock_guard lock(mu_);
  auto live = Find(alias);
  if (!live.ok()) return live.status();
  v1::Rollout& r = (*live)->rollout;
  if (!Active(r)) {
    return absl::FailedPreconditionError(
        StrCat("alias ", alias, ": its rollout has ended (",
               v1::Rollout::State_Name(r.state()), ")"));
  }
  r.set_state(to);
  r.set_reason(reason);
  return Persist(**live);
}

absl::Status Rollouts::Resume(const std::string& alias, int64_t now_micros) {
  std::lock_guard lock(mu_);
  auto live = Find(alias);
  if (!live.ok()) return live.status();
  v1::Rollout& r = (*live)->rollout;
  if (r.state() != v1::Rollout::PAUSED) {
    return absl::FailedPreconditionError(
        StrCat("alias ", alias, ": its rollout is ",
               v1::Rollout::State_Name(r.state()), ", not PAUSED"));
  }
  r.set_state(v1::Rollout::RUNNING);
  r.clear_reason();
  r.set_step_started_micros(now_micros);  // The step holds afresh.
  return Persist(**live);
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
  *r.mutable_canary_evidence() = l.canary_arm.ToProto();
  *r.mutable_primary_evidence() = l.primary_arm.ToProto();
  return r;
}

absl::Status Rollouts::Persist(const Live& l) {
  return store_->Put(kRollouts, l.rollout.alias(),
                     Snapshot(l).SerializeAsString());
}

}  // namespace mlpipe::monitor
