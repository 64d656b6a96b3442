// Online feature look-ups as a scoring replica makes them, sequentially,
// against a running server: GetOnlineFeatures over gRPC (the embedded
// store, through prep) for 1 and 50 random keys per call; with REDIS_URL
// also the Redis online store read directly with the scoring service's own
// reader (common/redis/online_redis.h) for 1 and 50 keys; and, in the same
// harness, grpc.health.v1 Check (an RPC that does no work) as the floor.
// Calls of each kind run in shuffled blocks, so a slow spell of the machine
// does not fall on one kind. Prints JSON.
//
// Usage: online_bench SERVER FEATURE_SET KEYS CALLS [REDIS_URL]
//   KEYS: keys are "0" .. KEYS-1.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/latencies.h"
#include "common/redis/online_redis.h"
#include "common/rpc/channel.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"

namespace {

using mlpipe::bench::Latencies;

// One kind of call, timed call by call.
struct Kind {
  std::string name;
  std::function<bool()> call;  // False: an error.
  Latencies latencies;
  int errors = 0;
};

// Runs every kind `calls` times, in blocks of 500 in a shuffled order each
// round, after a warm-up of 200 each.
void Run(std::vector<Kind>& kinds, int calls, std::mt19937& rng) {
  for (auto& k : kinds)
    for (int i = 0; i < 200; ++i) k.call();
  constexpr int kBlock = 500;
  std::vector<size_t> order(kinds.size());
  for (int done = 0; done < calls; done += kBlock) {
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i : order) {
      Kind& k = kinds[i];
      for (int j = 0; j < std::min(kBlock, calls - done); ++j) {
        auto t0 = std::chrono::steady_clock::now();
        if (!k.call()) ++k.errors;
        k.latencies.micros.push_back(std::chrono::duration<double, std::micro>(
                                         std::chrono::steady_clock::now() - t0)
                                         .count());
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr,
                 "usage: online_bench SERVER FEATURE_SET KEYS CALLS "
                 "[REDIS_URL]\n");
    return 2;
  }
  auto channel = mlpipe::rpc::NewChannel(argv[1]);
  std::string fs = argv[2];
  int keys = std::stoi(argv[3]), calls = std::stoi(argv[4]);
  auto prep = mlpipe::v1::Prep::NewStub(channel);
  auto health = grpc::health::v1::Health::NewStub(channel);
  std::mt19937 rng(42);
  auto random_keys = [&](int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(std::to_string(rng() % keys));
    return out;
  };
  int misses = 0;
  auto embedded = [&](int n) {
    return [&, n] {
      grpc::ClientContext ctx;
      mlpipe::v1::GetOnlineFeaturesRequest req;
      req.set_feature_set(fs);
      for (auto& k : random_keys(n)) req.add_keys(k);
      mlpipe::v1::GetOnlineFeaturesResponse resp;
      if (!prep->GetOnlineFeatures(&ctx, req, &resp).ok()) return false;
      for (const auto& v : resp.vectors()) misses += !v.found();
      return true;
    };
  };
  std::vector<Kind> kinds = {
      {"embedded_1", embedded(1)},
      {"embedded_50", embedded(50)},
      {"noop",
       [&] {
         grpc::ClientContext ctx;
         grpc::health::v1::HealthCheckRequest req;
         grpc::health::v1::HealthCheckResponse resp;
         return health->Check(&ctx, req, &resp).ok();
       }},
  };
  std::unique_ptr<mlpipe::redis::OnlineRedis> redis;
  if (argc == 6) {
    auto address = mlpipe::redis::ParseUrl(argv[5]);
    if (!address.ok()) {
      std::fprintf(stderr, "%s\n", address.status().ToString().c_str());
      return 2;
    }
    redis = std::make_unique<mlpipe::redis::OnlineRedis>(
        std::make_unique<mlpipe::redis::Pool>(*address,
                                              mlpipe::redis::PoolOptions()));
    auto by_redis = [&](int n) {
      return [&, n] {
        auto got = redis->Get(fs, random_keys(n), {});
        if (!got.ok()) return false;
        for (const auto& v : *got) misses += !v.has_value();
        return true;
      };
    };
    kinds.push_back({"redis_1", by_redis(1)});
    kinds.push_back({"redis_50", by_redis(50)});
  }
  Run(kinds, calls, rng);
  int errors = 0;
  std::printf("{\"calls\": %d, \"misses\": %d", calls, misses);
  for (const auto& k : kinds) {
    errors += k.errors;
    std::printf(", \"%s_errors\": %d, \"%s_p50_us\": %.1f, \"%s_p99_us\": %.1f",
                k.name.c_str(), k.errors, k.name.c_str(),
                k.latencies.Quantile(0.5), k.name.c_str(),
                k.latencies.Quantile(0.99));
  }
  std::printf("}\n");
  return errors == 0 ? 0 : 1;
}
