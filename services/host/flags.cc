#include "services/host/flags.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc/channel.h"
#include "common/rpc/server.h"

ABSL_FLAG(std::string, data_dir, "./mlpipe-data",
          "Directory for the services' RocksDB stores (one folder each).");
ABSL_FLAG(int, min_free_disk_mb, 64,
          "Writes are refused (RESOURCE_EXHAUSTED) while the data directory's "
          "disk would have less free, and a store does not open with less; "
          "they resume by themselves once space is freed (0: no reserve).");
ABSL_FLAG(int, store_memory_mb, 128,
          "RocksDB memory of the process, all its stores together: half block "
          "cache, half memtables (flushed when full).");
ABSL_FLAG(std::string, ingest_address, "",
          "Where the ingestion service is (host:port), for services that read "
          "datasets; empty: this process.");
ABSL_FLAG(std::string, prep_address, "",
          "Where the data-prep service is (host:port), for services that call "
          "it; empty: this process.");
ABSL_FLAG(std::string, split_address, "",
          "Where the split service is (host:port), for services that call "
          "it; empty: this process.");
ABSL_FLAG(std::string, train_address, "",
          "Where the train service is (host:port), for services that call "
          "it; empty: this process.");
ABSL_FLAG(std::string, evaluate_address, "",
          "Where the evaluation service is (host:port), for services that "
          "call it; empty: this process.");
ABSL_FLAG(std::string, score_address, "",
          "Where the scoring service is (host:port), for services that call "
          "it; empty: this process.");
ABSL_FLAG(std::string, monitor_address, "",
          "Where the monitoring service is (host:port), for services that "
          "send it predictions or policies; empty: this process.");
ABSL_FLAG(std::string, orchestrator_address, "",
          "Where the orchestrator is (host:port), for services that use its "
          "model registry; empty: this process.");
ABSL_FLAG(std::string, bind, "0.0.0.0", "Address to listen on.");
ABSL_FLAG(int, grpc_port, 7000, "gRPC port (0: any free port).");
ABSL_FLAG(int, metrics_port, 9100,
          "Prometheus /metrics port (0: any free port; -1: no metrics).");
ABSL_FLAG(std::string, port_file, "",
          "Write '<grpc_port> <metrics_port>' to this file once serving.");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate: the gRPC port speaks TLS only (with --tls_key). "
          "Also the client certificate of this process's calls to other "
          "services when they require mutual TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA: clients must present a certificate it signed (mutual "
          "TLS), and the servers this process calls are verified with it.");
ABSL_FLAG(int, health_port, -1,
          "A plaintext port serving only grpc.health.v1 (for Kubernetes' "
          "gRPC probes when the gRPC port speaks TLS); 0: any free port, -1: "
          "none.");
ABSL_FLAG(double, drain_seconds, 10,
          "At SIGTERM, in-flight calls get this long to finish.");

namespace mlpipe::host {

void InitServerProcess(int argc, char** argv, const char* usage) {
  rpc::BlockTerminationSignals();
  // Debian's Abseil is built without NDEBUG, so absl::Mutex keeps a lock
  // graph for deadlock detection on every acquisition: a few percent of a
  // scoring request. Tests keep it on; a serving process turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(usage);
  absl::ParseCommandLine(argc, argv);
  // This process's calls to other services use the same TLS material.
  rpc::TlsFiles tls{absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                    absl::GetFlag(FLAGS_tls_ca)};
  if (auto s = rpc::SetClientTls(tls); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    std::exit(2);
  }
}

HostOptions HostOptionsFromFlags() {
  HostOptions o;
  const std::string bind = absl::GetFlag(FLAGS_bind);
  o.grpc_address = bind + ":" + std::to_string(absl::GetFlag(FLAGS_grpc_port));
  int metrics = absl::GetFlag(FLAGS_metrics_port);
  o.metrics_address = metrics < 0 ? "" : bind + ":" + std::to_string(metrics);
  o.port_file = absl::GetFlag(FLAGS_port_file);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
           absl::GetFlag(FLAGS_tls_ca)};
  const int health = absl::GetFlag(FLAGS_health_port);
  if (health >= 0) o.health_address = bind + ":" + std::to_string(health);
  o.drain_deadline = std::chrono::milliseconds(
      static_cast<int64_t>(absl::GetFlag(FLAGS_drain_seconds) * 1000));
  return o;
}

std::string DataDirFromFlags() { return absl::GetFlag(FLAGS_data_dir); }

uint64_t StoreMemoryBytesFromFlags() {
  return static_cast<uint64_t>(
             std::max(8, absl::GetFlag(FLAGS_store_memory_mb)))
         << 20;
}

uint64_t MinFreeBytesFromFlags() {
  return static_cast<uint64_t>(
             std::max(0, absl::GetFlag(FLAGS_min_free_disk_mb)))
         << 20;
}

std::map<std::string, std::string> PeerAddressesFromFlags() {
  return {{"ingest", absl::GetFlag(FLAGS_ingest_address)},
          {"prep", absl::GetFlag(FLAGS_prep_address)},
          {"split", absl::GetFlag(FLAGS_split_address)},
          {"train", absl::GetFlag(FLAGS_train_address)},
          {"evaluate", absl::GetFlag(FLAGS_evaluate_address)},
          {"score", absl::GetFlag(FLAGS_score_address)},
          {"monitor", absl::GetFlag(FLAGS_monitor_address)},
          {"orchestrator", absl::GetFlag(FLAGS_orchestrator_address)}};
}

}  // namespace mlpipe::host
