#include "services/host/host.h"

#include <chrono>
#include <fstream>
#include <thread>

#include "common/audit/audit_interceptor.h"
#include "common/audit/audit_service.h"
#include "common/events/events_service.h"
#include "common/metrics/metrics.h"
#include "common/ops/operations_service.h"
#include "common/rpc/server.h"
#include "common/util/log.h"

namespace mlpipe::host {

class Host::Parts {
 public:
  // The audit trail (under data_dir/audit), when there is a data directory.
  std::unique_ptr<storage::Store> audit_store;
  std::unique_ptr<audit::AuditLog> audit_log;
  std::unique_ptr<audit::AuditService> audit_service;
  events::EventsService events;
  ops::OperationsService operations;
  std::unique_ptr<metrics::Exposer> exposer;
  std::unique_ptr<rpc::Server> server;

  absl::Status OpenAudit(const std::string& path, uint64_t min_free_bytes) {
    storage::Options o;
    o.column_families = audit::AuditLog::ColumnFamilies();
    // Like the modules' stores: a nearly full disk fails the records
    // (counted; the calls go on).
    o.min_free_bytes = min_free_bytes;
    // Small: a few hundred bytes per changing call (RocksDB also
    // preallocates its log by the memtable's size).
    o.write_buffer_bytes = 4 << 20;
    o.block_cache_bytes = 4 << 20;
    auto store = storage::OpenRocksStore(path, o);
    if (!store.ok()) return store.status();
    audit_store = std::move(*store);
    auto log = audit::AuditLog::Open(audit_store.get());
    if (!log.ok()) return log.status();
    audit_log = std::move(*log);
    audit_service = std::make_unique<audit::AuditService>(audit_log.get());
    return absl::OkStatus();
  }
};

absl::StatusOr<std::unique_ptr<Host>> Host::Start(
    const HostOptions& options,
    std::vector<std::unique_ptr<ServiceModule>> modules) {
  std::unique_ptr<Host> host(new Host());
  host->parts_ = std::make_unique<Parts>();
  host->modules_ = std::move(modules);
  Parts& p = *host->parts_;
  std::vector<grpc::Service*> services;
  for (auto& m : host->modules_) {
    for (auto* s : m->services()) services.push_back(s);
    p.events.AddLog(m->event_log());
    if (m->operations() != nullptr) p.operations.AddManager(m->operations());
    host->names_ += (host->names_.empty() ? "" : ",") + m->name();
  }
  services.push_back(&p.events);
  if (!p.operations.empty()) services.push_back(&p.operations);
  rpc::ServerOptions server_options;
  if (!options.data_dir.empty()) {
    if (auto s =
            p.OpenAudit(options.data_dir + "/audit", options.min_free_bytes);
        !s.ok())
      return s;
    services.push_back(p.audit_service.get());
    server_options.interceptors.push_back(
        audit::NewAuditInterceptorFactory(p.audit_log.get()));
  }

  if (!options.metrics_address.empty()) {
    std::vector<std::string> disks;
    if (!options.data_dir.empty()) disks.push_back(options.data_dir);
    auto e = metrics::Exposer::Start(options.metrics_address, disks);
    if (!e.ok()) return e.status();
    p.exposer = std::move(*e);
  }
  server_options.listen_address = options.grpc_address;
  server_options.drain_deadline = options.drain_deadline;
  server_options.tls = options.tls;
  server_options.auth_policy = options.auth_policy;
  server_options.enable_reflection = options.enable_reflection;
  server_options.health_address = options.health_address;
  auto server = rpc::Server::Start(server_options, services);
  if (!server.ok()) return server.status();
  p.server = std::move(*server);
  rpc::Server* server_ptr = p.server.get();
  for (auto& m : host->modules_) {
    m->SetHealthReporter(
        [server_ptr](const std::string& service, bool serving) {
          server_ptr->SetServing(service, serving);
        });
  }
  for (auto& m : host->modules_) {
    if (auto s = m->Start(p.server->InProcessChannel()); !s.ok()) {
      host->Stop();
      return absl::Status(s.code(),
                          m->name() + ": " + std::string(s.message()));
    }
  }
  return host;
}

Host::~Host() {
  Stop();
  // Destroying the exposer would block for civetweb's accept-loop poll
  // interval (about 2 s) for nothing when the process is about to exit;
  // RunHost releases it, tests pay it.
}

std::shared_ptr<grpc::Channel> Host::InProcessChannel() {
  return parts_->server->InProcessChannel();
}
int Host::port() const { return parts_->server->port(); }
int Host::metrics_port() const {
  return parts_->exposer ? parts_->exposer->port() : 0;
}

int Host::health_port() const {
  return parts_->server ? parts_->server->health_port() : 0;
}

void Host::Stop() {
  if (!parts_ || !parts_->server) return;
  // Health NOT_SERVING; the modules' background work stops (operations and
  // runs are interrupted, to resume at the next start; the prediction log
  // stops shipping but still takes records; new Predict calls are refused
  // UNAVAILABLE, admitted ones finish); calls between the modules
  // leave the in-process channel (gRPC crashes making a call on it once the
  // server has shut down: such calls fail from now on); no new calls, the
  // ones in flight drained (bounded by the drain deadline); then the
  // server goes, then the stores close.
  parts_->server->SetNotServing();
  for (auto& m : modules_) m->Stop();
  // Calls gRPC has taken in but not yet handed to a service would be
  // cancelled at its shutdown: a moment to hand them over, so the stopped
  // services answer them (scoring: UNAVAILABLE, retry elsewhere).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (auto& m : modules_) m->Disconnect();
  parts_->server->Shutdown();
  parts_->server->Wait();
  parts_->server.reset();
  modules_.clear();
}

int RunHost(const std::string& process_name, const HostOptions& options,
            std::vector<std::unique_ptr<ServiceModule>> modules) {
  auto host = Host::Start(options, std::move(modules));
  if (!host.ok()) {
    LogError("cannot start", {{"process", process_name},
                              {"error", std::string(host.status().message())}});
    return 1;
  }
  std::string grpc_port = std::to_string((*host)->port());
  std::string metrics_port = std::to_string((*host)->metrics_port());
  std::string health = (*host)->health_port() > 0
                           ? " " + std::to_string((*host)->health_port())
                           : "";
  if (!options.port_file.empty()) {
    std::string tmp = options.port_file + ".tmp";
    std::ofstream(tmp) << grpc_port << " " << metrics_port << health << "\n";
    std::rename(tmp.c_str(), options.port_file.c_str());
  }
  LogInfo("serving", {{"process", process_name},
                      {"services", (*host)->names()},
                      {"grpc_port", grpc_port},
                      {"metrics_port", metrics_port},
                      {"tls", options.tls.enabled() ? "on" : "off"},
                      {"auth", options.auth_policy ? "policy" : "off"}});
  int sig = rpc::WaitForTerminationSignal();
  LogInfo("shutting down",
          {{"signal", std::to_string(sig)},
           {"drain_ms", std::to_string(options.drain_deadline.count())}});
  (*host)->Stop();
  LogInfo("stopped", {{"process", process_name}});
  // Everything is durable and closed; skip the exposer's slow teardown.
  (void)(*host)->parts_->exposer.release();
  return 0;
}

}  // namespace mlpipe::host
