// kill -9 of the server during ingestion: no acknowledged batch is lost, no
// partial batch is visible after the restart, and retries with the same
// idempotency keys store every upload exactly once. The same for training
// (resumes from its checkpoint) and for predictions logged to the monitor.
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "clients/monitor_client.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/ingest_service.pb.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "mlpipe/v1/orchestrator_service.pb.h"
#include "mlpipe/v1/train_service.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

void WriteRows(const std::string& path, int rows) {
  std::ofstream out(path);
  out << "id,x,label,when\n";
  for (int i = 0; i < rows; ++i) {
    out << i << "," << (i * 0.25) << "," << (i % 3 ? "a" : "b") << ",2024-01-"
        << (10 + i % 20) << "T10:00:00\n";
  }
}

v1::GetDatasetResponse Show(const Standalone& s, const std::string& name,
                            int* exit_code) {
  auto r = s.Cli({"--output", "json", "datasets", "show", name});
  *exit_code = r.exit_code;
  v1::GetDatasetResponse resp;
  if (r.exit_code == 0) {
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &resp).ok());
  }
  return resp;
}

int64_t ExportedRows(const Standalone& s, const std::string& name,
                     const std::string& dir) {
  std::string out = dir + "/" + name + ".export.csv";
  auto r = s.Cli({"export", "--dataset", name, "--out", out});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return CountLines(out) - 1;  // Less the header.
}

class CrashTest : public ::testing::TestWithParam<int> {};

TEST_P(CrashTest, KillDuringIngestLosesNothingAcknowledged) {
  const int kill_after_ms = GetParam();
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::string small = dir.path() + "/small.csv";
  const std::string big = dir.path() + "/big.csv";
  const int kBigRows = 600000;
  WriteRows(small, 500);
  WriteRows(big, kBigRows);

  std::map<std::string, std::string> acked;  // key -> batch id
  int attempted = 0;
  int big_exit = -1;
  {
    Standalone server(data);
    std::atomic<bool> stop{false};
    std::atomic<int> acks{0};
    std::thread smalls([&] {
      for (int i = 0; !stop; ++i) {
        std::string key = "k" + std::to_string(i);
        attempted = i + 1;
        auto r = server.Cli({"--output", "json", "ingest", "--dataset", "small",
                             "--file", small, "--idempotency-key", key});
        if (r.exit_code != 0) break;  // The server is gone.
        v1::IngestResponse resp;
        ASSERT_TRUE(
            google::protobuf::util::JsonStringToMessage(r.out, &resp).ok());
        acked[key] = resp.batch().id();
        ++acks;
      }
    });
    Process big_upload(
        {Binary("mlpipe"), "--server", server.address(), "ingest", "--dataset",
         "big", "--file", big, "--idempotency-key", "big-1"},
        dir.path() + "/big.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_after_ms));
    // On a loaded machine the first upload may take longer than that: the
    // crash must come after at least one acknowledgement to test anything.
    for (int i = 0; acks == 0 && i < 3000; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    server.Crash();
    stop = true;
    smalls.join();
    big_exit = big_upload.Wait();
  }
  ASSERT_GT(acked.size(), 0u) << "no upload finished before the crash";

  Standalone server(data);
  int rc;
  auto ds = Show(server, "small", &rc);
  ASSERT_EQ(rc, 0);
  std::set<std::string> stored;
  for (const auto& b : ds.batches()) stored.insert(b.id());
  for (const auto& [key, id] : acked) {
    EXPECT_TRUE(stored.contains(id)) << "acknowledged batch " << id << " lost";
  }
  EXPECT_EQ(ExportedRows(server, "small", dir.path()),
            ds.dataset().row_count());
  EXPECT_EQ(ds.dataset().row_count(), 500 * ds.batches_size());

  // Retrying every attempted upload stores each exactly once.
  for (int i = 0; i < attempted; ++i) {
    auto r = server.Cli({"ingest", "--dataset", "small", "--file", small,
                         "--idempotency-key", "k" + std::to_string(i)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  ds = Show(server, "small", &rc);
  EXPECT_EQ(ds.batches_size(), attempted);

  // The big upload is all there or not there at all.
  auto big_ds = Show(server, "big", &rc);
  if (big_exit == 0) {
    ASSERT_EQ(rc, 0) << "acknowledged big batch lost";
  }
  if (rc == 0) {
    EXPECT_EQ(big_ds.dataset().row_count(), kBigRows);
    EXPECT_EQ(ExportedRows(server, "big", dir.path()), kBigRows);
  } else {
    EXPECT_EQ(rc, 3);
  }
}

INSTANTIATE_TEST_SUITE_P(KillTimes, CrashTest, ::testing::Values(300, 900));

// The trials of candidate "long", from `models trials --output json`.
std::vector<v1::Trial> Trials(const Standalone& s) {
  auto r =
      s.Cli({"--output", "json", "models", "trials", "--candidate", "long"});
  v1::ListTrialsResponse resp;
  if (r.exit_code == 0) {
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &resp).ok())
        << r.out;
  }
  return {resp.trials().begin(), resp.trials().end()};
}

TEST(TrainCrashTest, KillDuringTrainingResumesFromTheCheckpoint) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::string split, fs;
  {
    // The example pipeline: the credit split and its feature set.
    Standalone server(data);
    auto r =
        server.Cli({"--output", "json", "run",
                    SourcePath("examples/credit/pipeline.yaml"), "--watch"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    v1::Run run;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &run).ok());
    for (const auto& s : run.steps()) {
      if (s.name() == "split")
        split = s.results().fields().at("split").string_value();
      if (s.name() == "features")
        fs = s.results().fields().at("feature_set").string_value();
    }
    ASSERT_FALSE(split.empty());
    ASSERT_FALSE(fs.empty());
    ASSERT_EQ(server.Stop(), 0);
  }
  const std::string config = dir.path() + "/long.yaml";
  WriteFile(config,
            "model: long\ncheckpoint_every: 20\n"
            "candidates: [{name: long, algorithm: gbdt,\n"
            "  params: {rounds: 1500, eta: 0.01, max_depth: 8, "
            "min_child_weight: 0}}]\n");
  auto server = std::make_unique<Standalone>(data);
  // The CLI follows the job until the server dies under it.
  Process cli({Binary("mlpipe"), "--server", server->address(), "train",
               "--split", split, "--feature-set", fs, "--config", config},
              dir.path() + "/cli.log");
  int64_t before = 0;
  for (int i = 0; i < 600 && before < 100; ++i) {
    for (const auto& t : Trials(*server))
      before = std::max(before, t.iteration());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(before, 100) << "training did not get going";
  server->Crash();
  EXPECT_NE(cli.Wait(), 0);  // Its server died under it.

  server = std::make_unique<Standalone>(data);  // The job resumes by itself.
  v1::Trial trial;
  for (int i = 0; i < 1200; ++i) {
    auto trials = Trials(*server);
    ASSERT_EQ(trials.size(), 1u);
    trial = trials[0];
    if (trial.state() == v1::Operation::SUCCEEDED ||
        trial.state() == v1::Operation::FAILED)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(trial.state(), v1::Operation::SUCCEEDED) << trial.DebugString();
  EXPECT_GE(trial.resumed_from(), 80);  // The last checkpoint before the kill.
  EXPECT_EQ(trial.iteration(), 1500);
  // The trial ends before its candidate's model is stored: wait for it.
  CommandResult shown;
  for (int i = 0; i < 300; ++i) {
    shown = server->Cli({"models", "show", "long:1"});
    if (shown.exit_code != 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_THAT(shown.out, ::testing::HasSubstr("gbdt"));
}

}  // namespace
}  // namespace mlpipe::testing

namespace mlpipe::testing {
namespace {

// A batch in wire form the monitor cannot parse ends its stream early with
// OK and no record taken: the client says DATA_LOSS, never success (the
// prediction log would trim what was not taken).
TEST(MonitorClientTest, ABatchNotTakenWholeIsDataLoss) {
  TempDir dir;
  Standalone server(dir.path() + "/data");
  auto ch =
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  v1::PredictionBatch batch;
  for (int i = 0; i < 2; ++i) {
    auto* r = batch.add_records();
    r->set_model_version("m:1");
    r->set_prediction_id("p" + std::to_string(i));
    r->add_scores(0.5);
  }
  const std::string bytes = batch.SerializeAsString();
  EXPECT_TRUE(monitor::LogPredictions(ch, bytes, 2).ok());
  // Cut short: the second record's length runs past the end.
  auto cut = monitor::LogPredictions(ch, bytes.substr(0, bytes.size() - 3), 2);
  EXPECT_EQ(cut.code(), absl::StatusCode::kDataLoss) << cut;
  EXPECT_EQ(monitor::LogPredictions(ch, bytes, 3).code(),
            absl::StatusCode::kDataLoss);
}

// kill -9 while batches of predictions stream into the monitor: every batch
// LogPredictions acknowledged is in the windows after the restart, once.
TEST(MonitorCrashTest, AcknowledgedPredictionsSurviveKill9) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  std::atomic<int64_t> acked{0};
  {
    Standalone server(data, {"--monitor_window_rows=5000"});
    auto ch = grpc::CreateChannel(server.address(),
                                  grpc::InsecureChannelCredentials());
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      auto stub = v1::Monitor::NewStub(ch);
      for (int b = 0; !stop; ++b) {
        v1::PredictionBatch batch;
        for (int i = 0; i < 100; ++i) {
          auto* r = batch.add_records();
          r->set_model_version("m:1");
          r->set_prediction_id("p" + std::to_string(b * 100 + i));
          *r->mutable_time() =
              google::protobuf::util::TimeUtil::SecondsToTimestamp(b);
          (*r->mutable_inputs()->mutable_fields())["x"].set_number_value(i);
          r->add_scores(0.5);
        }
        grpc::ClientContext ctx;
        v1::LogPredictionsResponse resp;
        auto stream = stub->LogPredictions(&ctx, &resp);
        stream->Write(batch);
        stream->WritesDone();
        if (!stream->Finish().ok()) break;
        acked += static_cast<int64_t>(resp.records());
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    server.Crash();
    stop = true;
    writer.join();
  }
  ASSERT_GT(acked.load(), 1000);
  Standalone again(data);
  auto ch =
      grpc::CreateChannel(again.address(), grpc::InsecureChannelCredentials());
  grpc::ClientContext ctx;
  v1::GetReportRequest req;
  req.set_model_version("m:1");
  req.set_windows(100000);
  v1::MonitorReport report;
  auto s = v1::Monitor::NewStub(ch)->GetReport(&ctx, req, &report);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // (Windows of 5,000: all kept.) Acknowledged batches all count; at most
  // the one in flight at the kill (stored, its answer lost) on top.
  EXPECT_GE(static_cast<int64_t>(report.predictions()), acked.load());
  EXPECT_LE(static_cast<int64_t>(report.predictions()), acked.load() + 100);
  EXPECT_EQ(report.predictions() % 100, 0u);
}

}  // namespace
}  // namespace mlpipe::testing
