#include "services/monitor/monitor_module.h"

#include <chrono>

#include "absl/flags/flag.h"
#include "common/rpc/channel.h"
#include "common/rpc/status.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "services/host/flags.h"
#include "services/ingest/ingest_client.h"
#include "services/monitor/monitor_metrics.h"
#include "services/monitor/monitor_service.h"
#include "services/monitor/reference.h"
#include "services/orchestrator/registry_client.h"
#include "services/split/split_client.h"
#include "services/train/train_client.h"

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

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

}  // namespace

MonitorModuleOptions MonitorOptionsFromFlags() {
  MonitorModuleOptions o;
  o.train_address = absl::GetFlag(FLAGS_train_address);
  o.split_address = absl::GetFlag(FLAGS_split_address);
  o.ingest_address = absl::GetFlag(FLAGS_ingest_address);
  o.score_address = absl::GetFlag(FLAGS_score_address);
  o.orchestrator_address = absl::GetFlag(FLAGS_orchestrator_address);
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

// Models, splits and rows for references, and the scoring service for
// rollbacks, over gRPC.
class MonitorModule::GrpcSources final : public ReferenceSources {
 public:
  void Connect(std::shared_ptr<grpc::Channel> train,
               std::shared_ptr<grpc::Channel> split,
               std::shared_ptr<grpc::Channel> ingest,
               std::shared_ptr<grpc::Channel> score,
               std::shared_ptr<grpc::Channel> orchestrator) {
    std::lock_guard lock(mu_);
    train_ = std::move(train);
    split_ = std::move(split);
    ingest_ = std::move(ingest);
    score_ = std::move(score);
    orchestrator_ = std::move(orchestrator);
  }

  absl::StatusOr<v1::ModelArtifact> GetModel(const std::string& id) override {
    return train::GetModel(Channel(&train_), id);
  }
  absl::StatusOr<v1::Split> GetSplit(const std::string& id) override {
    return split::GetSplit(Channel(&split_), id);
  }
  absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
      const std::string& id) override {
    return split::ReadAssignments(Channel(&split_), id);
  }
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns) override {
    return ingest::ReadVersion(Channel(&ingest_), dataset, version, columns);
  }

  std::unique_ptr<v1::Scoring::Stub> Scoring() {
    return v1::Scoring::NewStub(Channel(&score_));
  }
  // Every route the registry holds.
  absl::StatusOr<std::vector<v1::Route>> Routes() {
    return orchestrator::ListRoutes(Channel(&orchestrator_));
  }

 private:
  std::shared_ptr<grpc::Channel> Channel(std::shared_ptr<grpc::Channel>* c) {
    std::lock_guard lock(mu_);
    return *c;
  }
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> train_, split_, ingest_, score_,
      orchestrator_;  // GUARDED_BY(mu_)
};

absl::StatusOr<std::unique_ptr<MonitorModule>> MonitorModule::Open(
    const std::string& data_dir, MonitorModuleOptions options) {
  std::unique_ptr<MonitorModule> m(new MonitorModule());
  m->options_ = std::move(options);
  storage::Options so;
  for (const auto& cf : MonitorColumnFamilies())
    so.column_families.push_back({.name = cf});
  so.column_families.push_back({.name = kCursors});
  so.column_families.push_back({.name = ops::kOperationsColumnFamily});
  so.column_families.push_back({.name = events::kEventsColumnFamily});
  auto store = storage::OpenRocksStore(data_dir + "/monitor", so);
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "monitor");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  m->sources_ = std::make_unique<GrpcSources>();
  m->monitor_ = std::make_unique<Monitor>(m->store_.get(), m->options_.monitor,
                                          m->log_.get());
  MonitorModule* raw = m.get();
  m->monitor_->SetAlertListener([raw](const v1::Alert& a) {
    if (!a.action().ends_with(" pending")) return;
    std::lock_guard lock(raw->mu_);
    raw->actions_.push_back(a);
    raw->wake_.notify_all();
  });
  if (auto s = m->monitor_->Restore(); !s.ok()) return s;
  m->ops_ = std::make_unique<ops::OperationManager>(
      ops::OperationManagerOptions{.service = "monitor"}, m->store_.get());
  Monitor* monitor = m->monitor_.get();
  GrpcSources* sources = m->sources_.get();
  m->ops_->Register(
      kSetReferenceOperation,
      [monitor, sources](
          const google::protobuf::Any& any,
          ops::Progress& progress) -> absl::StatusOr<google::protobuf::Any> {
        v1::SetReferenceRequest req;
        if (!any.UnpackTo(&req))
          return absl::InternalError("stored reference request is unreadable");
        v1::MonitorReference ref;
        if (req.has_reference()) {
          ref = req.reference();
          if (!req.model_version().empty())
            ref.set_model_version(req.model_version());
        } else {
          auto model = sources->GetModel(req.model_version());
          if (!model.ok()) return model.status();
          auto built = BuildReference(*model, sources, req.part(),
                                      monitor->options().profile, progress);
          if (!built.ok()) return built.status();
          ref = std::move(*built);
        }
        if (auto s = monitor->SetReference(ref); !s.ok()) return s;
        LogInfo("reference set",
                {{"model_version", ref.model_version()},
                 {"rows", StrCat(ref.profile().rows())},
                 {"fields", StrCat(ref.profile().fields_size())}});
        ref.clear_profile();  // The result says what was set, briefly.
        google::protobuf::Any out;
        out.PackFrom(ref);
        return out;
      });
  m->service_ = std::make_unique<MonitorService>(monitor, m->ops_.get());
  return m;
}

absl::Status MonitorModule::Start(std::shared_ptr<grpc::Channel> self) {
  auto pick = [&self](const std::string& address) {
    return address.empty() ? self : rpc::NewChannel(address);
  };
  sources_->Connect(pick(options_.train_address), pick(options_.split_address),
                    pick(options_.ingest_address), pick(options_.score_address),
                    pick(options_.orchestrator_address));
  if (auto s = ops_->Resume(); !s.ok()) return s;
  // Rollbacks a previous process asked for but did not record as done.
  auto pending = monitor_->Alerts("", "performance", 100);
  if (!pending.ok()) return pending.status();
  {
    std::lock_guard lock(mu_);
    for (auto it = pending->rbegin(); it != pending->rend(); ++it)
      if (it->action().ends_with(" pending")) actions_.push_back(*it);
  }
  action_thread_ = std::thread([this] { ActionLoop(); });
  if (options_.follow_deployments.count() > 0)
    follow_thread_ = std::thread([this] { FollowLoop(); });
  return absl::OkStatus();
}

void MonitorModule::FollowLoop() {
  do {
    if (auto s = FollowDeployments(); !s.ok())
      LogWarning("cannot read the deployed versions from the registry",
                 {{"error", std::string(s.message())}});
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, options_.follow_deployments,
                       [this] { return stopping_; }))
      return;
  } while (true);
}

absl::Status MonitorModule::FollowDeployments() {
  auto routes = sources_->Routes();
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
      auto op = ops_->Start(kSetReferenceOperation, req,
                            StrCat("deployed:", version));
      if (!op.ok()) return op.status();
      referenced_.insert(version);  // The operation retries nothing itself.
      LogInfo("building the reference of a deployed version",
              {{"model_version", version}, {"operation", op->id()}});
    }
  }
  return absl::OkStatus();
}

void MonitorModule::ActionLoop() {
  while (true) {
    v1::Alert alert;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [this] { return stopping_ || !actions_.empty(); });
      if (stopping_) return;
      alert = std::move(actions_.front());
      actions_.pop_front();
    }
    Act(alert);
  }
}

void MonitorModule::Act(const v1::Alert& alert) {
  auto policy = monitor_->Policy(alert.model_version());
  const std::string alias = !policy.ok() || policy->alias().empty()
                                ? std::string("production")
                                : policy->alias();
  std::string action;
  absl::Status error;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt > 0) {
      std::unique_lock lock(mu_);
      if (wake_.wait_for(lock, std::chrono::seconds(1 << attempt),
                         [this] { return stopping_; }))
        return;  // Still pending: the next start takes it up.
    }
    auto stub = sources_->Scoring();
    // Only while the version still serves the alias (a second alert, or an
    // operator, may have moved it already).
    v1::ListDeploymentsResponse deployments;
    {
      grpc::ClientContext call;
      call.set_deadline(In(30));
      error =
          rpc::FromGrpcStatus(stub->ListDeployments(&call, {}, &deployments));
    }
    if (!error.ok()) continue;
    const v1::Route* route = nullptr;
    for (const auto& r : deployments.routes())
      if (r.alias() == alias) route = &r;
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
    v1::Route after;
    grpc::ClientContext call;
    call.set_deadline(In(60));
    error = rpc::FromGrpcStatus(stub->Rollback(&call, req, &after));
    if (error.ok()) {
      std::string to;
      for (const auto& t : after.targets())
        StrAppend(&to, to.empty() ? "" : ", ", t.model_version(), " ",
                  t.percent(), "%");
      action = StrCat("rolled back '", alias, "' to revision ",
                      after.revision(), " (", to, ")");
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

void MonitorModule::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (action_thread_.joinable()) action_thread_.join();
  if (follow_thread_.joinable()) follow_thread_.join();
  if (ops_) ops_->Stop();
  if (monitor_) {
    if (auto s = monitor_->Checkpoint(); !s.ok())
      LogError("cannot checkpoint the monitor windows",
               {{"error", std::string(s.message())}});
  }
}

MonitorModule::~MonitorModule() {
  Stop();
  service_.reset();
  ops_.reset();
  monitor_.reset();
  sources_.reset();
  log_.reset();
  store_.reset();
}

}  // namespace mlpipe::monitor
