// Crash loops: the standalone is killed (SIGKILL) at a random moment, 20
// times, while uploads with idempotency keys, predictions, alias changes and
// pipeline runs with training go on. Every restart must start cleanly; at
// the end every acknowledged upload is stored exactly once (and retrying
// every attempted key adds none twice), every acknowledged prediction is
// joinable, the alias serves the last acknowledged version (or the one in
// flight at the kill), and every run completes.
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/ingest_service.pb.h"
#include "mlpipe/v1/orchestrator_service.pb.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "tests/integration/harness.h"
#include "tests/reliability/load.h"

namespace mlpipe::testing {
namespace {

constexpr int kCycles = 20;
constexpr int kRows = 200;  // Per upload.

template <typename M>
M Parse(const std::string& json) {
  M m;
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &m, o).ok())
      << json;
  return m;
}

// What the clients were told, over every cycle.
struct Acknowledged {
  std::map<std::string, std::string> uploads;  // Idempotency key -> batch.
  int attempted_uploads = 0;
  std::vector<std::string> predictions;
  std::string version;            // Last deploy acknowledged.
  std::string version_in_flight;  // Deploy unanswered at the kill.
  std::vector<std::string> runs;
};

class CrashLoopTest : public ServedModelTest {
 protected:
  // One cycle: a server, the workload for `ms`, then kill -9.
  void Cycle(int cycle, int ms, Acknowledged* acked) {
    Standalone server(data_);  // Throws unless it starts cleanly.
    if (cycle % 7 == 0) {      // A run with training, to be interrupted.
      auto r = server.Cli(
          {"--output", "json", "run", FixedCanaryPipeline(), "--no-cache"});
      if (r.exit_code == 0) acked->runs.push_back(Parse<v1::Run>(r.out).id());
    }
    std::atomic<bool> stop = false;
    std::thread uploads([&] { Uploads(server, stop, acked); });
    std::thread deploys([&] { Deploys(server, stop, acked); });
    Load load(server.address(), {.callers = 4});
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    server.Crash();
    stop = true;
    uploads.join();
    deploys.join();
    load.Stop();
    acked->predictions.insert(acked->predictions.end(), load.ids.begin(),
                              load.ids.end());
  }

  // Uploads until the server is gone; the key in flight at the kill is
  // tried again next cycle.
  void Uploads(const Standalone& server, const std::atomic<bool>& stop,
               Acknowledged* acked) {
    while (!stop) {
      const std::string key = "k" + std::to_string(acked->attempted_uploads);
      auto r = server.Cli({"--output", "json", "ingest", "--dataset", "small",
                           "--file", csv_, "--idempotency-key", key});
      if (r.exit_code != 0) return;
      acked->uploads[key] = Parse<v1::IngestResponse>(r.out).batch().id();
      ++acked->attempted_uploads;
    }
  }

  // The example pipeline deploying a fixed 10% canary: its deploy step sets
  // the route itself. (With its rollout plan, the monitor would set it, and
  // abort the rollout on seeing Deploys change the alias under it.)
  std::string FixedCanaryPipeline() {
    const std::string file = dir_.path() + "/pipeline.yaml";
    if (std::ifstream(file).good()) return file;
    std::string yaml = ReadFile(SourcePath("examples/credit/pipeline.yaml"));
    const size_t at = yaml.find("       canary: {steps:");
    EXPECT_NE(at, std::string::npos) << "the example has no canary plan";
    if (at == std::string::npos) return file;
    yaml = yaml.substr(0, at) + "       canary_percent: 10}\n";
    WriteFile(file, yaml);
    WriteFile(dir_.path() + "/credit.csv",
              ReadFile(SourcePath("examples/credit/credit.csv")));
    return file;
  }

  void Deploys(const Standalone& server, const std::atomic<bool>& stop,
               Acknowledged* acked) {
    for (int i = 0; !stop; ++i) {
      const std::string v = i % 2 ? "credit:1" : "credit:2";
      acked->version_in_flight = v;
      if (server.Cli({"deploy", v}).exit_code != 0) return;
      acked->version = v;
      acked->version_in_flight.clear();
    }
  }

  void SetUp() override {
    ServedModelTest::SetUp();
    std::ofstream out(csv_);
    out << "id,x,label\n";
    for (int i = 0; i < kRows; ++i)
      out << i << "," << i * 0.5 << "," << (i % 3 ? "a" : "b") << "\n";
  }

  const std::string csv_ = dir_.path() + "/small.csv";
};

// The version a Predict is answered by.
std::string Served(const Standalone& server) {
  auto stub = v1::Scoring::NewStub(grpc::CreateChannel(
      server.address(), grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 100; ++i) {
    grpc::ClientContext ctx;
    v1::PredictResponse resp;
    if (stub->Predict(&ctx, CreditRow(), &resp).ok())
      return resp.model_version();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return "";
}

TEST_F(CrashLoopTest, KillNineAtRandomMomentsLosesNothingAcknowledged) {
  const unsigned seed = std::random_device()();
  std::mt19937 rng(seed);
  std::cerr << "crash loop seed " << seed << "\n";
  Acknowledged acked;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE(cycle);
    const int ms = std::uniform_int_distribution<int>(300, 1500)(rng);
    ASSERT_NO_THROW(Cycle(cycle, ms, &acked));
  }
  Standalone server(data_);
  // Uploads: each acknowledged one once; retries add each missing one once.
  auto shown = server.Cli({"--output", "json", "datasets", "show", "small"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  auto ds = Parse<v1::GetDatasetResponse>(shown.out);
  std::set<std::string> stored;
  for (const auto& b : ds.batches()) stored.insert(b.id());
  for (const auto& [key, id] : acked.uploads)
    EXPECT_TRUE(stored.contains(id)) << key << ": batch " << id << " lost";
  EXPECT_EQ(ds.dataset().row_count(), int64_t{kRows} * ds.batches_size());
  const int attempted = acked.attempted_uploads + 1;  // With the last one.
  for (int i = 0; i < attempted; ++i) {
    auto r = server.Cli({"ingest", "--dataset", "small", "--file", csv_,
                         "--idempotency-key", "k" + std::to_string(i)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ds = Parse<v1::GetDatasetResponse>(
      server.Cli({"--output", "json", "datasets", "show", "small"}).out);
  EXPECT_EQ(ds.batches_size(), attempted);
  // Predictions.
  const auto lost = Unknown(server.address(), acked.predictions);
  EXPECT_EQ(lost.size(), 0u) << "of " << acked.predictions.size();
  // The alias.
  const std::string served = Served(server);
  EXPECT_TRUE(served == acked.version || served == acked.version_in_flight)
      << served << " served; acknowledged " << acked.version;
  // Runs: each resumes and completes.
  for (const auto& id : acked.runs) {
    v1::Run run;
    for (int i = 0; i < 600; ++i) {
      run = Parse<v1::Run>(
          server.Cli({"--output", "json", "runs", "show", id}).out);
      if (run.state() == v1::Run::SUCCEEDED || run.state() == v1::Run::FAILED)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    EXPECT_EQ(run.state(), v1::Run::SUCCEEDED) << id;
  }
  std::cerr << "crash loop: " << kCycles << " kills; " << acked.uploads.size()
            << " uploads, " << acked.predictions.size() << " predictions, "
            << acked.runs.size() << " runs acknowledged; lost " << lost.size()
            << "\n";
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace mlpipe::testing
