// Online feature look-ups over gRPC: GetOnlineFeatures for one random key at
// a time, sequentially, against a running server; and, in the same harness,
// grpc.health.v1 Check (an RPC that does no work) as the floor. Prints JSON.
//
// Usage: online_bench SERVER FEATURE_SET KEYS CALLS
//   KEYS: keys are "0" .. KEYS-1.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/latencies.h"
#include "common/rpc/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"

namespace {

using mlpipe::bench::Latencies;

template <typename F>
Latencies Time(int calls, F call) {
  for (int i = 0; i < 200; ++i) call(i);  // Warm-up.
  Latencies l;
  l.micros.reserve(calls);
  for (int i = 0; i < calls; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    call(i);
    l.micros.push_back(std::chrono::duration<double, std::micro>(
                           std::chrono::steady_clock::now() - t0)
                           .count());
  }
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: online_bench SERVER FEATURE_SET KEYS CALLS\n");
    return 2;
  }
  auto channel = mlpipe::rpc::NewChannel(argv[1]);
  std::string fs = argv[2];
  int keys = std::stoi(argv[3]), calls = std::stoi(argv[4]);
  auto prep = mlpipe::v1::Prep::NewStub(channel);
  auto health = grpc::health::v1::Health::NewStub(channel);
  std::mt19937 rng(42);
  int misses = 0, errors = 0;
  Latencies lookup = Time(calls, [&](int) {
    grpc::ClientContext ctx;
    mlpipe::v1::GetOnlineFeaturesRequest req;
    req.set_feature_set(fs);
    req.add_keys(std::to_string(rng() % keys));
    mlpipe::v1::GetOnlineFeaturesResponse resp;
    auto s = prep->GetOnlineFeatures(&ctx, req, &resp);
    if (!s.ok()) {
      ++errors;
    } else if (!resp.vectors(0).found()) {
      ++misses;
    }
  });
  Latencies noop = Time(calls, [&](int) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    health->Check(&ctx, req, &resp);
  });
  std::printf(
      "{\"calls\": %d, \"errors\": %d, \"misses\": %d, "
      "\"lookup_p50_us\": %.1f, \"lookup_p99_us\": %.1f, "
      "\"noop_p50_us\": %.1f, \"noop_p99_us\": %.1f}\n",
      calls, errors, misses, lookup.Quantile(0.5), lookup.Quantile(0.99),
      noop.Quantile(0.5), noop.Quantile(0.99));
  return errors == 0 ? 0 : 1;
}
