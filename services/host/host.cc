#include "services/host/host.h"

#include <fstream>

#include "common/events/events_service.h"
#include "common/metrics/metrics.h"
#include "common/ops/operations_service.h"
#include "common/rpc/server.h"
#include "common/util/log.h"

namespace mlpipe::host {

int RunHost(const std::string& process_name, const HostOptions& options,
            std::vector<std::unique_ptr<ServiceModule>> modules) {
  events::EventsService events;
  ops::OperationsService operations;
  std::vector<grpc::Service*> services;
  std::string names;
  for (auto& m : modules) {
    for (auto* s : m->services()) services.push_back(s);
    events.AddLog(m->event_log());
    if (m->operations() != nullptr) operations.AddManager(m->operations());
    names += (names.empty() ? "" : ",") + m->name();
  }
  services.push_back(&events);
  if (!operations.empty()) services.push_back(&operations);

  std::unique_ptr<metrics::Exposer> exposer;
  if (!options.metrics_address.empty()) {
    auto e = metrics::Exposer::Start(options.metrics_address);
    if (!e.ok()) {
      LogError("cannot start metrics",
               {{"error", std::string(e.status().message())}});
      return 1;
    }
    exposer = std::move(*e);
  }
  rpc::ServerOptions server_options;
  server_options.listen_address = options.grpc_address;
  server_options.drain_deadline = options.drain_deadline;
  auto server = rpc::Server::Start(server_options, services);
  if (!server.ok()) {
    LogError("cannot start gRPC server",
             {{"error", std::string(server.status().message())}});
    return 1;
  }
  for (auto& m : modules) {
    if (auto s = m->Start((*server)->InProcessChannel()); !s.ok()) {
      LogError("cannot start service",
               {{"service", m->name()}, {"error", std::string(s.message())}});
      (*server)->Shutdown();
      return 1;
    }
  }
  std::string grpc_port = std::to_string((*server)->port());
  std::string metrics_port = exposer ? std::to_string(exposer->port()) : "0";
  if (!options.port_file.empty()) {
    std::string tmp = options.port_file + ".tmp";
    std::ofstream(tmp) << grpc_port << " " << metrics_port << "\n";
    std::rename(tmp.c_str(), options.port_file.c_str());
  }
  LogInfo("serving", {{"process", process_name},
                      {"services", names},
                      {"grpc_port", grpc_port},
                      {"metrics_port", metrics_port}});
  int sig = rpc::WaitForTerminationSignal();
  LogInfo("shutting down",
          {{"signal", std::to_string(sig)},
           {"drain_ms", std::to_string(options.drain_deadline.count())}});
  for (auto& m : modules) m->Stop();
  (*server)->Shutdown();
  (*server)->Wait();
  server->reset();
  modules.clear();  // Closes the stores.
  LogInfo("stopped", {{"process", process_name}});
  // Everything is durable and closed. Destroying the exposer would block for
  // civetweb's accept-loop poll interval (about 2 s) for nothing; the process
  // is about to exit and the OS reclaims it.
  (void)exposer.release();
  return 0;
}

}  // namespace mlpipe::host
