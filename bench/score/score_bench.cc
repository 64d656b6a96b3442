// The load harness of bench/score. One client, the same requests, several
// servers of mlpipe.v1.Scoring/Predict:
//   - mlpipe's scoring service (a deployed model, transform + GBDT),
//   - a no-op Scoring service on the platform's own gRPC server
//     (common/rpc), served by `score_bench serve`: it parses the request and
//     answers an empty response, so it measures gRPC + protobuf and nothing
//     else; with gRPC's synchronous API, its callback API (as mlpipe's
//     services are written), and the callback one behind a token policy,
//   - any other server of the same RPC (bench/score/python_server.py).
//
// Per server: latency of sequential 1-row calls (p50 / p99 / mean), then
// throughput with CLIENTS calls in flight for SECONDS (asynchronous client).
// Also checks that the servers that predict agree: P(positive) of the same
// rows, max absolute difference against the first server. Prints JSON.
//
// Usage:
//   score_bench export SERVER MODEL OUT_DIR
//       GetModel(MODEL) from the training service at SERVER; writes
//       OUT_DIR/model.ubj (the XGBoost booster), OUT_DIR/model.json (the
//       artifact without learned parameters: transform, feature names,
//       classes) for the Python peers.
//   score_bench serve PORT_FILE [sync|callback|callback-auth]
//       The no-op servers (or the one named) in a process of their own
//       (ports to PORT_FILE). One process per server for measuring: gRPC's
//       pollers of every server in a process share one epoll set, so one
//       server's threads would serve another's connections.
//   score_bench load ROWS.jsonl MODEL CALLS CLIENTS SECONDS NAME=ADDR...
//       ROWS.jsonl: one JSON object of raw fields per line.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bench/latencies.h"
#include "common/auth/policy.h"
#include "common/rpc/server.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "grpcpp/completion_queue.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "mlpipe/v1/train_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
using mlpipe::v1::PredictRequest;
using mlpipe::v1::PredictResponse;
using mlpipe::v1::Scoring;

// Parses and answers nothing: the floor of a Predict round trip.
class NoopScoring final : public Scoring::Service {
  grpc::Status Predict(grpc::ServerContext*, const PredictRequest*,
                       PredictResponse*) override {
    return grpc::Status::OK;
  }
};

class NoopCallback final : public Scoring::CallbackService {
  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* ctx,
                                    const PredictRequest*,
                                    PredictResponse*) override {
    auto* r = ctx->DefaultReactor();
    r->Finish(grpc::Status::OK);
    return r;
  }
};

int Fail(const std::string& why) {
  std::fprintf(stderr, "score_bench: %s\n", why.c_str());
  return 1;
}

// A server of `service` on a loopback port from the OS; with `policy`,
// every call is authenticated and authorized first.
absl::StatusOr<std::unique_ptr<mlpipe::rpc::Server>> StartLoopback(
    grpc::Service* service,
    std::shared_ptr<const mlpipe::auth::Policy> policy = nullptr) {
  mlpipe::rpc::ServerOptions o;
  o.listen_address = "127.0.0.1:0";
  o.auth_policy = std::move(policy);
  return mlpipe::rpc::Server::Start(o, {service});
}

// The policy of the no-op behind authorization: one principal of role
// scorer, by the SHA-256 of kBenchToken.
constexpr char kBenchToken[] = "noop-bench-token";
absl::StatusOr<std::shared_ptr<const mlpipe::auth::Policy>> BenchPolicy() {
  auto p = mlpipe::auth::Policy::Parse(
      "principals:\n  bench:\n    token_sha256: " +
          mlpipe::auth::TokenSha256(kBenchToken) + "\n    roles: [scorer]\n",
      "noopcb-auth");
  if (!p.ok()) return p.status();
  return std::shared_ptr<const mlpipe::auth::Policy>(*std::move(p));
}

// One channel per client thread: a distinct channel argument keeps gRPC
// from sharing one connection between them.
std::unique_ptr<Scoring::Stub> Stub(const std::string& addr, int client) {
  grpc::ChannelArguments args;
  args.SetInt("mlpipe.bench_client", client);
  return Scoring::NewStub(grpc::CreateCustomChannel(
      addr, grpc::InsecureChannelCredentials(), args));
}

struct Result {
  std::string name;
  mlpipe::bench::Latencies latency;
  long long calls = 0, errors = 0;
  double seconds = 0;
  std::string first_error;
  std::vector<double> scores;  // P(positive) of the check rows.
};

// The positive class's probability, or the value.
double Score(const mlpipe::v1::Prediction& p) {
  return p.probabilities_size() == 2 ? p.probabilities(1) : p.value();
}

// A server under test: its name, address, the token its calls carry.
struct Target {
  Result r;
  std::string addr, token;
  std::unique_ptr<Scoring::Stub> stub;  // For the sequential calls.
  grpc::Status Call(const PredictRequest& req, PredictResponse* resp) const {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    if (!token.empty()) ctx.AddMetadata("authorization", token);
    return stub->Predict(&ctx, req, resp);
  }
};

// Throughput: CLIENTS calls in flight, always: an asynchronous client (two
// completion-queue threads, a channel each) starts a new call as soon as one
// ends, so the client spends little CPU per call.
void Throughput(Target& t, const std::vector<PredictRequest>& requests,
                int clients, double seconds) {
  std::atomic<long long> ok{0}, errors{0};
  std::atomic<bool> stop{false};
  std::string first_error;
  std::mutex mu;
  struct Call {
    grpc::ClientContext ctx;
    PredictResponse resp;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<PredictResponse>> rpc;
  };
  constexpr int kLoops = 2;
  std::vector<std::unique_ptr<Scoring::Stub>> stubs;
  std::vector<std::unique_ptr<grpc::CompletionQueue>> cqs;
  for (int l = 0; l < kLoops; ++l) {
    stubs.push_back(Stub(t.addr, l));
    cqs.push_back(std::make_unique<grpc::CompletionQueue>());
  }
  auto start = [&](int loop, size_t i) {
    auto* c = new Call;
    c->ctx.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(10));
    if (!t.token.empty()) c->ctx.AddMetadata("authorization", t.token);
    c->rpc = stubs[loop]->PrepareAsyncPredict(
        &c->ctx, requests[i % requests.size()], cqs[loop].get());
    c->rpc->StartCall();
    c->rpc->Finish(&c->resp, &c->status, c);
  };
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int l = 0; l < kLoops; ++l) {
    threads.emplace_back([&, l] {
      size_t i = l * 7919;
      int inflight = 0;
      for (int c = l; c < clients; c += kLoops, ++inflight) start(l, i++);
      void* tag;
      bool done;
      while (inflight > 0 && cqs[l]->Next(&tag, &done)) {
        std::unique_ptr<Call> c(static_cast<Call*>(tag));
        --inflight;
        if (c->status.ok()) {
          ok.fetch_add(1, std::memory_order_relaxed);
        } else {
          errors.fetch_add(1, std::memory_order_relaxed);
          std::lock_guard<std::mutex> g(mu);
          if (first_error.empty()) first_error = c->status.error_message();
        }
        if (!stop.load(std::memory_order_relaxed)) {
          start(l, i++);
          ++inflight;
        }
      }
      cqs[l]->Shutdown();
      while (cqs[l]->Next(&tag, &done)) {
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  t.r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  t.r.calls = ok;
  t.r.errors = errors;
  t.r.first_error = first_error;
}

int Load(int argc, char** argv) {
  if (argc < 8)
    return Fail(
        "usage: load ROWS MODEL CALLS CLIENTS SECONDS "
        "NAME=ADDR[#TOKEN_FILE]...");
  std::ifstream in(argv[2]);
  if (!in) return Fail(std::string("cannot read ") + argv[2]);
  const std::string model = argv[3];
  const int calls = std::stoi(argv[4]), clients = std::stoi(argv[5]);
  const double seconds = std::stod(argv[6]);
  std::vector<PredictRequest> requests;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    PredictRequest r;
    r.set_model(model);
    auto st = google::protobuf::util::JsonStringToMessage(line, r.add_rows());
    if (!st.ok()) return Fail("bad row: " + std::string(st.message()));
    requests.push_back(std::move(r));
  }
  if (requests.empty()) return Fail("no rows");

  // Check rows: the scores, to compare servers; then warm up.
  auto prepare = [&](Target& t) -> grpc::Status {
    t.stub = Stub(t.addr, -1);
    const size_t check = std::min<size_t>(requests.size(), 500);
    for (size_t i = 0; i < check; ++i) {
      PredictResponse resp;
      grpc::Status s = t.Call(requests[i], &resp);
      if (!s.ok()) return s;
      if (resp.predictions_size() == 1)
        t.r.scores.push_back(Score(resp.predictions(0)));
    }
    for (int i = 0; i < 300; ++i) {
      PredictResponse resp;
      t.Call(requests[i % requests.size()], &resp);
    }
    t.r.latency.micros.reserve(calls);
    return grpc::Status::OK;
  };
  auto measure = [&](Target& t, int i) -> grpc::Status {
    PredictResponse resp;
    auto t0 = Clock::now();
    grpc::Status s = t.Call(requests[i % requests.size()], &resp);
    t.r.latency.micros.push_back(
        std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    return s;
  };
  std::vector<Target> targets;
  for (int a = 7; a < argc; ++a) {
    std::string spec = argv[a];
    size_t eq = spec.find('=');
    if (eq == std::string::npos) return Fail("expected NAME=ADDR: " + spec);
    Target& t = targets.emplace_back();
    t.r.name = spec.substr(0, eq);
    t.addr = spec.substr(eq + 1);
    // NAME=ADDR#TOKEN_FILE: calls carry that bearer token.
    if (size_t hash = t.addr.find('#'); hash != std::string::npos) {
      std::ifstream tf(t.addr.substr(hash + 1));
      std::getline(tf, t.token);
      if (t.token.empty())
        return Fail("no token in " + t.addr.substr(hash + 1));
      t.token = "Bearer " + t.token;
      t.addr.resize(hash);
    }
    if (auto s = prepare(t); !s.ok())
      return Fail(t.r.name + ": " + s.error_message());
  }
  // Latency: one call at a time, the servers of other processes in turn
  // in blocks of kBlock calls, in a new order each round, so that the
  // machine's drift (the VM's neighbours: a server's p50 moved by 10-20%
  // between rounds measured one after another) falls on each alike.
  // Blocks, not call by call: what a server does after its answers (the
  // prediction log's shipping, Python's threads) then falls on its own
  // next calls, as in production, not on another server's (measured call
  // by call, the callback no-op's p50 rose to mlpipe's while mlpipe runs
  // its log; 2026-12-06: in blocks 1.05x, call by call 1.28x).
  constexpr int kBlock = 500;
  std::vector<Target*> order;
  for (Target& t : targets) order.push_back(&t);
  std::mt19937 rng(1);
  for (int start = 0; start < calls; start += kBlock) {
    std::shuffle(order.begin(), order.end(), rng);
    for (Target* t : order) {
      for (int i = start; i < std::min(calls, start + kBlock); ++i) {
        if (auto s = measure(*t, i); !s.ok())
          return Fail(t->r.name + ": " + s.error_message());
      }
    }
  }
  std::vector<Result> results;
  for (Target& t : targets) {
    Throughput(t, requests, clients, seconds);
    results.push_back(std::move(t.r));
  }

  std::printf("[");
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    double diff = 0;
    bool compared = !r.scores.empty() && !results[0].scores.empty();
    if (compared) {
      if (r.scores.size() != results[0].scores.size()) {
        diff = INFINITY;
      } else {
        for (size_t k = 0; k < r.scores.size(); ++k)
          diff = std::max(diff, std::fabs(r.scores[k] - results[0].scores[k]));
      }
    }
    char diff_text[32] = "null";
    if (compared)
      std::snprintf(diff_text, sizeof diff_text, "%.3g",
                    std::isfinite(diff) ? diff : 1e9);
    std::printf(
        "%s\n {\"name\": \"%s\", \"p50_us\": %.1f, \"p99_us\": %.1f, "
        "\"mean_us\": %.1f, \"calls\": %lld, \"errors\": %lld, "
        "\"seconds\": %.2f, \"rps\": %.1f, \"clients\": %d, "
        "\"checked\": %zu, \"max_diff\": %s, \"first_error\": \"%s\"}",
        i == 0 ? "" : ",", r.name.c_str(), r.latency.Quantile(0.5),
        r.latency.Quantile(0.99), r.latency.Mean(), r.calls, r.errors,
        r.seconds, r.calls / r.seconds, clients, compared ? r.scores.size() : 0,
        diff_text, r.first_error.c_str());
  }
  std::printf("\n]\n");
  return 0;
}

int Export(int argc, char** argv) {
  if (argc != 5) return Fail("usage: export SERVER MODEL OUT_DIR");
  auto stub = mlpipe::v1::Training::NewStub(
      grpc::CreateChannel(argv[2], grpc::InsecureChannelCredentials()));
  mlpipe::v1::GetModelRequest req;
  req.set_id(argv[3]);
  mlpipe::v1::ModelArtifact artifact;
  grpc::ClientContext ctx;
  grpc::Status s = stub->GetModel(&ctx, req, &artifact);
  if (!s.ok()) return Fail("GetModel: " + s.error_message());
  if (!artifact.learned().has_trees())
    return Fail(std::string(argv[3]) + " is not a tree ensemble");
  const std::string dir = argv[4];
  std::ofstream(dir + "/model.ubj", std::ios::binary)
      << artifact.learned().trees().xgboost_ubj();
  artifact.clear_learned();
  std::string json;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  auto st = google::protobuf::util::MessageToJsonString(artifact, &json, o);
  if (!st.ok()) return Fail(std::string(st.message()));
  std::ofstream(dir + "/model.json") << json;
  std::printf("{\"model\": \"%s\", \"features\": %d}\n", artifact.id().c_str(),
              artifact.feature_names_size());
  return 0;
}

}  // namespace

// Serves the no-op services in a process of their own (as every real
// server is): writes "SYNC_PORT CALLBACK_PORT CALLBACK_AUTH_PORT" to
// PORT_FILE (the last behind BenchPolicy), runs until killed.
int Serve(int argc, char** argv) {
  if (argc != 3 && argc != 4) return Fail("usage: serve PORT_FILE [KIND]");
  const std::string kind = argc == 4 ? argv[3] : "";
  NoopScoring noop;
  NoopCallback noopcb, noopcb_auth;
  auto policy = BenchPolicy();
  if (!policy.ok()) return Fail(policy.status().ToString());
  using Spec = std::tuple<std::string, grpc::Service*,
                          std::shared_ptr<const mlpipe::auth::Policy>>;
  std::vector<std::unique_ptr<mlpipe::rpc::Server>> servers;
  std::string ports;
  for (const auto& [name, service, p] :
       {Spec{"sync", &noop, nullptr}, Spec{"callback", &noopcb, nullptr},
        Spec{"callback-auth", &noopcb_auth, *policy}}) {
    if (!kind.empty() && kind != name) continue;
    auto s = StartLoopback(service, p);
    if (!s.ok()) return Fail(s.status().ToString());
    ports += (ports.empty() ? "" : " ") + std::to_string((*s)->port());
    servers.push_back(std::move(*s));
  }
  if (servers.empty()) return Fail("unknown KIND " + kind);
  std::ofstream(argv[2]) << ports << "\n";
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

int main(int argc, char** argv) {
  // As the servers measured do (host::InitServerProcess): Debian's Abseil
  // otherwise keeps a deadlock-detection graph on every gRPC mutex, in the
  // no-op servers and in the load client alike.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve") return Serve(argc, argv);
  if (mode == "export") return Export(argc, argv);
  if (mode == "load") return Load(argc, argv);
  return Fail("usage: score_bench export|load ... (see the source)");
}
