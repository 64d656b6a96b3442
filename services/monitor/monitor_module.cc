#include "services/monitor/monitor_module.h"

#include <chrono>

#include "absl/flags/flag.h"
#include "clients/peer_reads.h"
#include "clients/registry_client.h"
#include "clients/routes.h"
#include "clients/score_client.h"
#include "common/ml/artifact.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/modules.h"
#include "services/monitor/monitor_metrics.h"
#include "services/monitor/monitor_service.h"
#include "services/monitor/reference.h"

ABSL_FLAG(int64_t, monitor_window_rows, 10000,
          "A window of logged predictions closes at this many rows.");
ABSL_FLAG(double, monitor_window_minutes, 60,
          "... or once it spans this many minutes.");
ABSL_FLAG(int64_t, monitor_windows_kept, 168,
          "Closed windows kept per model version.");
ABSL_FLAG(int64_t, monitor_performance_rows, 1000,
          "Joined actuals per performance window.");
ABSL_FLAG(double, monitor_actuals_horizon_hours, 168,
          "Logged predictions stay joinable this long.");
ABSL_FLAG(double, monitor_alert_cooldown_minutes, 60,
          "At most one alert per model version and kind this often.");
ABSL_FLAG(double, monitor_psi_threshold, 0.2,
          "A number field drifted when its PSI reaches this.");
ABSL_FLAG(double, monitor_js_threshold, 0.1,
          "A category field drifted when its Jensen-Shannon distance "
          "reaches this.");

namespace mlpipe::monitor {
namespace {

// Earlier versions kept a cursor of the scoring service's events here;
// listed so that their stores open.
constexpr char kCursors[] = "cursors";

// Models, splits and rows for references, through the peers.
using PeerSources = clients::PeerReads<ReferenceSources>;

// Sets the reference a request gives, or builds it from the model's data.
absl::StatusOr<v1::MonitorReference> SetReference(
    Monitor* monitor, ReferenceSources* sources,
    const v1::SetReferenceRequest& req, ops::Progress& progress) {
  v1::MonitorReference ref;
  if (req.has_reference()) {
    ref = req.reference();
    if (!req.model_version().empty())
      ref.set_model_version(req.model_version());
  } else {
    auto model = sources->GetModel(req.model_version());
    if (!model.ok()) return model.status();
    if (auto c = ml::CheckArtifactFor(*model, req.model_version()); !c.ok())
      return c;
    auto built = BuildReference(*model, sources, req.part(),
                                monitor->options().profile, progress);
    if (!built.ok()) return built.status();
    ref = std::move(*built);
  }
  if (auto s = monitor->SetReference(ref); !s.ok()) return s;
  LogInfo("reference set", {{"model_version", ref.model_version()},
                            {"rows", StrCat(ref.profile().rows())},
                            {"fields", StrCat(ref.profile().fields_size())}});
  ref.clear_profile();  // The result says what was set, briefly.
  return ref;
}

}  // namespace

MonitorModuleOptions MonitorOptionsFromFlags() {
  MonitorModuleOptions o;
  MonitorOptions& m = o.monitor;
  m.window_rows = static_cast<uint64_t>(
      std::max<int64_t>(1, absl::GetFlag(FLAGS_monitor_window_rows)));
  m.window_time = absl::Minutes(absl::GetFlag(FLAGS_monitor_window_minutes));
  m.windows_kept = static_cast<size_t>(
      std::max<int64_t>(1, absl::GetFlag(FLAGS_monitor_windows_kept)));
  m.performance_rows = static_cast<uint64_t>(
      std::max<int64_t>(1, absl::GetFlag(FLAGS_monitor_performance_rows)));
  m.actuals_horizon =
      absl::Hours(absl::GetFlag(FLAGS_monitor_actuals_horizon_hours));
  m.alert_cooldown =
      absl::Minutes(absl::GetFlag(FLAGS_monitor_alert_cooldown_minutes));
  m.thresholds.psi = absl::GetFlag(FLAGS_monitor_psi_threshold);
  m.thresholds.jensenshannon = absl::GetFlag(FLAGS_monitor_js_threshold);
  return o;
}

absl::StatusOr<std::unique_ptr<MonitorModule>> MonitorModule::Open(
    const host::ModuleEnv& env, MonitorModuleOptions options) {
  std::unique_ptr<MonitorModule> m(new MonitorModule(env));
  m->options_ = std::move(options);
  storage::Options so;
  for (const auto& cf : MonitorColumnFamilies())
    so.column_families.push_back({.name = cf});
  so.column_families.push_back({.name = kCursors});
  if (auto s = m->OpenStore(so); !s.ok()) return s;
  auto* sources = m->Make<PeerSources>(m->peers());
  auto* monitor =
      m->Make<Monitor>(m->store(), m->options_.monitor, m->outbox());
  m->monitor_ = monitor;
  MonitorModule* raw = m.get();
  monitor->SetAlertListener([raw](const v1::Alert& a) {
    if (!a.action().ends_with(" pending")) return;
    {
      std::lock_guard lock(raw->mu_);
      raw->actions_.push_back(a);
    }
    if (raw->action_loop_) raw->action_loop_->Wake();
  });
  if (auto s = monitor->Restore(); !s.ok()) return s;
  auto rollouts = Rollouts::Open(m->store(), m->outbox());
  if (!rollouts.ok()) return rollouts.status();
  m->rollouts_ = m->Own(*std::move(rollouts));
  monitor->SetRollouts(m->rollouts_);
  auto* driver = m->Make<RolloutDriver>(m->rollouts_, sources,
                                        [raw] { return raw->Peer("score"); });
  m->RegisterOperation<v1::SetReferenceRequest, v1::MonitorReference>(
      kSetReferenceOperation,
      [monitor, sources](const v1::SetReferenceRequest& req,
                         ops::Progress& progress) {
        return SetReference(monitor, sources, req, progress);
      });
  m->AddService(
      std::make_unique<MonitorService>(monitor, m->ops(), m->rollouts_, driver,
                                       [raw] {
                                         if (raw->rollout_loop_)
                                           raw->rollout_loop_->Wake();
                                       }),
      v1::Monitor::service_full_name());
  // Rollouts: checked when due, their routes set (every second, or at
  // once when one starts or changes).
  m->rollout_loop_ = m->AddLoop([driver](util::BackgroundLoop& loop) {
    do {
      if (auto s = driver->Tick(absl::ToUnixMicros(absl::Now())); !s.ok())
        LogWarning("cannot check the canary rollouts",
                   {{"error", std::string(s.message())}});
    } while (loop.Wait(std::chrono::seconds(1)));
  });
  m->action_loop_ =
      m->AddLoop([raw](util::BackgroundLoop& loop) { raw->ActionLoop(loop); });
  // A window whose time is up closes (and raises its alert) now, not when
  // the version's next prediction comes.
  m->AddLoop([monitor](util::BackgroundLoop& loop) {
    do {
      if (auto s = monitor->CloseDue(absl::Now()); !s.ok())
        LogWarning("cannot close the monitoring windows that are due",
                   {{"error", std::string(s.message())}});
    } while (loop.Wait(std::chrono::seconds(1)));
  });
  if (m->options_.follow_deployments.count() > 0) {
    m->AddLoop([raw](util::BackgroundLoop& loop) {
      do {
        if (auto s = raw->FollowDeployments(); !s.ok())
          LogWarning("cannot read the deployed versions from the registry",
                     {{"error", std::string(s.message())}});
      } while (loop.Wait(raw->options_.follow_deployments));
    });
  }
  return m;
}

MonitorModule::~MonitorModule() { Stop(); }

absl::Status MonitorModule::OnStart() {
  // Rollbacks a previous process asked for but did not record as done.
  auto pending = monitor_->Alerts("", "performance", 100);
  if (!pending.ok()) return pending.status();
  std::lock_guard lock(mu_);
  for (auto it = pending->rbegin(); it != pending->rend(); ++it)
    if (it->action().ends_with(" pending")) actions_.push_back(*it);
  return absl::OkStatus();
}

void MonitorModule::OnStop() {
  if (auto s = monitor_->Checkpoint(); !s.ok())
    LogError("cannot checkpoint the monitor windows",
             {{"error", std::string(s.message())}});
}

absl::Status MonitorModule::FollowDeployments() {
  auto routes = orchestrator::ListRoutes(Peer("orchestrator"));
  if (!routes.ok()) return routes.status();
  for (const auto& route : *routes) {
    std::vector<std::string> versions;
    for (const auto& t : route.targets()) versions.push_back(t.model_version());
    for (const auto& v : route.shadows()) versions.push_back(v);
    for (const auto& version : versions) {
      if (version.empty() || referenced_.contains(version)) continue;
      auto ref = monitor_->Reference(version);
      if (ref.ok()) {
        referenced_.insert(version);
        continue;
      }
      if (!absl::IsNotFound(ref.status())) return ref.status();
      v1::SetReferenceRequest req;
      req.set_model_version(version);
      auto op = ops()->Start(kSetReferenceOperation, req,
                             StrCat("deployed:", version));
      if (!op.ok()) return op.status();
      referenced_.insert(version);  // The operation retries nothing itself.
      LogInfo("building the reference of a deployed version",
              {{"model_version", version}, {"operation", op->id()}});
    }
  }
  return absl::OkStatus();
}

void MonitorModule::ActionLoop(util::BackgroundLoop& loop) {
  do {
    while (true) {
      v1::Alert alert;
      {
        std::lock_guard lock(mu_);
        if (actions_.empty()) break;
        alert = std::move(actions_.front());
        actions_.pop_front();
      }
      Act(alert, loop);
      if (loop.stopping()) return;
    }
  } while (loop.Wait(std::chrono::minutes(1)));
}

void MonitorModule::Act(const v1::Alert& alert, util::BackgroundLoop& loop) {
  auto policy = monitor_->Policy(alert.model_version());
  // The policy's alias of the version's model.
  const std::string alias =
      StrCat(score::ModelNameOf(alert.model_version()), "@",
             score::AliasPart(!policy.ok() || policy->alias().empty()
                                  ? std::string(score::kDefaultAlias)
                                  : policy->alias()));
  std::string action;
  absl::Status error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    // Stopping: still pending, the next start takes it up.
    if (attempt > 0 && !loop.Wait(std::chrono::seconds(1 << attempt))) return;
    auto channel = Peer("score");
    // Only while the version still serves the alias (a second alert, or an
    // operator, may have moved it already).
    auto deployments = score::ListDeployments(channel);
    error = deployments.status();
    if (!error.ok()) continue;
    const v1::Route* route = score::FindRoute(*deployments, alias);
    bool serves = false;
    if (route != nullptr) {
      for (const auto& t : route->targets())
        serves |= t.model_version() == alert.model_version() && t.percent() > 0;
    }
    if (!serves) {
      action = StrCat("no rollback: ", alert.model_version(),
                      " does not serve '", alias, "'");
      CountRollback("skipped");
      break;
    }
    v1::RollbackRequest req;
    req.set_alias(alias);
    req.set_set_by(StrCat("monitor:alert-", alert.id()));
    req.set_reason(StrCat(alert.model_version(), " ", alert.message()));
    auto after = score::Rollback(channel, req);
    error = after.status();
    if (error.ok()) {
      std::string to;
      for (const auto& t : after->targets())
        StrAppend(&to, to.empty() ? "" : ", ", t.model_version(), " ",
                  t.percent(), "%");
      action = StrCat("rolled back '", alias, "' to revision ",
                      after->revision(), " (", to, ")");
      CountRollback("done");
      break;
    }
    if (error.code() == absl::StatusCode::kFailedPrecondition) break;
  }
  if (action.empty()) {
    action = StrCat("rollback failed: ", std::string(error.message()));
    CountRollback("failed");
  }
  LogWarning("performance alert acted on",
             {{"alert", StrCat(alert.id())},
              {"model_version", alert.model_version()},
              {"action", action}});
  if (auto s = monitor_->SetAlertAction(alert.id(), action); !s.ok())
    LogError(
        "cannot record an alert's action",
        {{"alert", StrCat(alert.id())}, {"error", std::string(s.message())}});
}

const host::ModuleDef& MonitorModuleDef() {
  static const auto* def = new host::ModuleDef{
      "monitor",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        return MonitorModule::Open(env, MonitorOptionsFromFlags());
      }};
  return *def;
}

}  // namespace mlpipe::monitor
