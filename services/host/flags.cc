#include "services/host/flags.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "common/ml/artifact.h"
#include "common/rpc/auth.h"
#include "common/rpc/channel.h"
#include "common/rpc/server.h"
#include "common/util/files.h"
#include "common/util/log.h"
#include "common/util/strings.h"

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
ABSL_FLAG(std::string, bind, "127.0.0.1",
          "Address to listen on (gRPC and metrics). A non-loopback address "
          "needs --auth_policy, or --insecure_no_auth.");
ABSL_FLAG(std::string, auth_policy, "",
          "YAML file: who may call what (principals by bearer-token SHA-256 "
          "or client certificate -> roles -> methods; docs/security.md). "
          "Without it, anyone reaching the port may call anything.");
ABSL_FLAG(bool, insecure_no_auth, false,
          "Serve a non-loopback --bind without --auth_policy: anyone who can "
          "reach the port may do anything.");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding this process's bearer token, sent on its calls to "
          "other services (its service identity in their policy).");
ABSL_FLAG(std::string, artifact_signing_key, "",
          "Ed25519 private key (PEM): the train service signs every model "
          "artifact it stores with it.");
ABSL_FLAG(std::vector<std::string>, artifact_verify_keys, {},
          "Ed25519 public keys (PEM files, comma-separated): scoring, "
          "evaluation and monitoring load only artifacts one of them signed "
          "(several: key rotation). Empty: signatures are not checked.");
ABSL_FLAG(bool, reflection, true,
          "Serve gRPC server reflection (grpcurl, grpc_cli).");
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
namespace {

[[noreturn]] void Exit(const absl::Status& s) {
  std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
  std::exit(2);
}

std::shared_ptr<const auth::Policy>& Policy() {
  static auto* p = new std::shared_ptr<const auth::Policy>;
  return *p;
}

absl::Status LoadPolicy() {
  const std::string path = absl::GetFlag(FLAGS_auth_policy);
  if (path.empty()) return absl::OkStatus();
  auto p = auth::Policy::Load(path);
  if (!p.ok()) return p.status();
  Policy() = std::move(*p);
  return absl::OkStatus();
}

absl::Status SetArtifactKeysFromFlags() {
  std::string signing;
  if (const std::string path = absl::GetFlag(FLAGS_artifact_signing_key);
      !path.empty()) {
    auto pem = ReadSmallFile(path, "--artifact_signing_key");
    if (!pem.ok()) return pem.status();
    signing = std::move(*pem);
  }
  std::vector<std::string> verify;
  for (const auto& path : absl::GetFlag(FLAGS_artifact_verify_keys)) {
    if (path.empty()) continue;
    auto pem = ReadSmallFile(path, "--artifact_verify_keys");
    if (!pem.ok()) return pem.status();
    verify.push_back(std::move(*pem));
  }
  return ml::SetArtifactKeys(signing, verify);
}

absl::Status SetClientTokenFromFlags() {
  const std::string path = absl::GetFlag(FLAGS_auth_token_file);
  if (path.empty()) return absl::OkStatus();
  auto token = ReadTokenFile(path, "--auth_token_file");
  if (!token.ok()) return token.status();
  rpc::SetClientToken(*std::move(token));
  return absl::OkStatus();
}

}  // namespace

namespace {

void ParseFlags(int argc, char** argv, const char* usage) {
  absl::SetProgramUsageMessage(usage);
  // --help lists the flags of mlpipe's own sources (by default Abseil looks
  // for flags defined in a file named after the binary, and finds none).
  absl::FlagsUsageConfig help;
  auto ours = [](absl::string_view file) {
    return absl::StrContains(file, "services/") ||
           absl::StrContains(file, "common/");
  };
  help.contains_help_flags = ours;
  help.contains_helpshort_flags = ours;
  absl::SetFlagsUsageConfig(help);
  absl::ParseCommandLine(argc, argv);
  // This process's calls to other services use the same TLS material.
  rpc::TlsFiles tls{absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                    absl::GetFlag(FLAGS_tls_ca)};
  if (auto s = rpc::SetClientTls(tls); !s.ok()) Exit(s);
  if (auto s = SetClientTokenFromFlags(); !s.ok()) Exit(s);
}

}  // namespace

void InitClientProcess(int argc, char** argv, const char* usage) {
  ParseFlags(argc, argv, usage);
}

std::vector<std::string> ClientCredentialFlags() {
  std::vector<std::string> out;
  for (const auto& [name, value] :
       std::vector<std::pair<std::string, std::string>>{
           {"tls_cert", absl::GetFlag(FLAGS_tls_cert)},
           {"tls_key", absl::GetFlag(FLAGS_tls_key)},
           {"tls_ca", absl::GetFlag(FLAGS_tls_ca)},
           {"auth_token_file", absl::GetFlag(FLAGS_auth_token_file)}}) {
    if (!value.empty()) out.push_back(StrCat("--", name, "=", value));
  }
  return out;
}

void InitServerProcess(int argc, char** argv, const char* usage) {
  rpc::BlockTerminationSignals();
  // Debian's Abseil is built without NDEBUG, so absl::Mutex keeps a lock
  // graph for deadlock detection on every acquisition: a few percent of a
  // scoring request. Tests keep it on; a serving process turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  ParseFlags(argc, argv, usage);
  if (auto s = LoadPolicy(); !s.ok()) Exit(s);
  if (auto s = SetArtifactKeysFromFlags(); !s.ok()) Exit(s);
  const std::string bind = absl::GetFlag(FLAGS_bind);
  if (!IsLoopback(bind) && Policy() == nullptr) {
    if (!absl::GetFlag(FLAGS_insecure_no_auth)) {
      Exit(absl::FailedPreconditionError(StrCat(
          "--bind=", bind,
          " serves beyond this machine, and without --auth_policy anyone who "
          "reaches the port could do anything (delete datasets, deploy "
          "models): give --auth_policy=FILE (docs/security.md), bind "
          "127.0.0.1, or say --insecure_no_auth")));
    }
    LogWarning(
        "serving without authentication (--insecure_no_auth): anyone "
        "who reaches the port may call anything",
        {{"bind", bind}});
  }
}

bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']')
    h = h.substr(1, h.size() - 2);
  in6_addr v6;
  return inet_pton(AF_INET6, h.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

HostOptions HostOptionsFromFlags() {
  HostOptions o;
  const std::string bind = absl::GetFlag(FLAGS_bind);
  o.grpc_address = bind + ":" + std::to_string(absl::GetFlag(FLAGS_grpc_port));
  int metrics = absl::GetFlag(FLAGS_metrics_port);
  o.metrics_address = metrics < 0 ? "" : bind + ":" + std::to_string(metrics);
  o.port_file = absl::GetFlag(FLAGS_port_file);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.min_free_bytes = MinFreeBytesFromFlags();
  o.tls = {absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
           absl::GetFlag(FLAGS_tls_ca)};
  o.auth_policy = Policy();
  o.enable_reflection = absl::GetFlag(FLAGS_reflection);
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
