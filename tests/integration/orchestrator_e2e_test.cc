// The orchestrator in mlpipe-standalone, driven by the CLI, as real processes.
#include <fstream>
#include <thread>

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/orchestrator_service.grpc.pb.h"
#include "mlpipe/v1/orchestrator_service.pb.h"
#include "mlpipe/v1/split.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::Run ParseRun(const std::string& json) {
  v1::Run run;
  auto s = google::protobuf::util::JsonStringToMessage(json, &run);
  EXPECT_TRUE(s.ok()) << s.ToString() << json;
  return run;
}

std::string StepState(const v1::Run& run, const std::string& name) {
  for (const auto& s : run.steps()) {
    if (s.name() == name) return v1::StepState::State_Name(s.state());
  }
  return "missing";
}

class OrchestratorE2eTest : public ::testing::Test {
 protected:
  std::string WritePipeline(const std::string& name, const std::string& steps) {
    std::string path = dir_.path() + "/" + name + ".yaml";
    WriteFile(path, "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: " +
                        name + "}\nspec:\n  dataset: credit\n  steps:\n" +
                        steps);
    return path;
  }
  TempDir dir_;
};

TEST_F(OrchestratorE2eTest, RunUploadsInputsAndCachedRerunSkipsWork) {
  Standalone server(dir_.path() + "/data", {"--enable_test_steps"});
  // Beside the pipeline file (mlpipe run uploads only those).
  std::string credit = dir_.path() + "/credit.csv";
  WriteFile(credit, ReadFile(SourcePath("examples/credit/credit.csv")));
  std::string calls = dir_.path() + "/calls.txt";
  std::string p = WritePipeline(
      "credit", "    - {name: load, type: ingest, file: " + credit +
                    "}\n    - {name: work, type: record, file: " + calls +
                    ", after: [load]}\n");
  auto r = server.Cli({"run", p, "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(
      r.out,
      HasSubstr(
          "uploaded credit.csv -> dataset 'credit' version 1 (4,454 rows)"));
  EXPECT_THAT(r.out, HasSubstr("SUCCEEDED"));
  auto again = server.Cli({"--output", "json", "run", p, "--watch"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  v1::Run run = ParseRun(again.out);
  EXPECT_EQ(StepState(run, "load"), "CACHED");
  EXPECT_EQ(StepState(run, "work"), "CACHED");
  EXPECT_EQ(CountLines(calls), 1);
  // Lineage: the step's output traces back to the uploaded batch.
  std::string out;
  for (const auto& s : run.steps()) {
    if (s.name() == "work") out = s.outputs().at("record").id();
  }
  auto lineage = server.Cli({"lineage", out});
  ASSERT_EQ(lineage.exit_code, 0) << lineage.err;
  EXPECT_THAT(lineage.out, HasSubstr("dataset:credit@v1"));
  auto list = server.Cli({"runs", "list"});
  EXPECT_THAT(list.out, HasSubstr("SUCCEEDED"));
}

// A running step shows how far its service's operation is: the run's watch
// stream carries the train step's trials and boosting iterations as they go
// (what `mlpipe run --watch` draws on a terminal), and the ended step none.
TEST_F(OrchestratorE2eTest, WatchShowsARunningStepsProgress) {
  Standalone server(dir_.path() + "/data");
  WriteFile(dir_.path() + "/credit.csv",
            ReadFile(SourcePath("examples/credit/credit.csv")));
  std::string p = dir_.path() + "/progress.yaml";
  WriteFile(p,
            "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: p}\n"
            "spec:\n  dataset: credit\n  label: Status\n"
            "  positive_class: bad\n  steps:\n"
            "    - {name: load, type: ingest, file: credit.csv}\n"
            "    - {name: split, type: split, after: [load], strategy: random, "
            "ratios: {train: 0.8, eval: 0.2}}\n"
            "    - {name: features, type: prepare, after: [split], transforms: "
            "[{columns: [Income, Age], impute: median}]}\n"
            "    - {name: train, type: train, after: [features], candidates: "
            "[{name: g, algorithm: gbdt, params: {rounds: 1500, eta: 0.01, "
            "max_depth: 8}}]}\n");
  auto started = server.Cli({"--output", "json", "run", p});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string id = ParseRun(started.out).id();
  auto channel =
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Orchestrator::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(3));
  v1::WatchRunRequest req;
  req.set_id(id);
  auto reader = stub->WatchRun(&call, req);
  std::vector<std::string> train_progress;
  v1::Run run;
  while (reader->Read(&run)) {
    for (const auto& s : run.steps()) {
      if (s.name() == "train" && s.has_progress()) {
        EXPECT_EQ(StepState(run, "train"), "RUNNING");
        train_progress.push_back(s.progress().message());
      }
    }
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(run.state(), v1::Run::SUCCEEDED) << run.DebugString();
  ASSERT_FALSE(train_progress.empty());
  // e.g. "0 of 1 trials done; g trial 0: iteration 1200/1500, loss 0.52".
  EXPECT_THAT(train_progress, ::testing::Contains(::testing::ContainsRegex(
                                  "g trial 0: iteration [0-9]+/1500")));
  for (const auto& s : run.steps()) EXPECT_FALSE(s.has_progress()) << s.name();
}

// Editing the pipeline's file and running again makes a version of the
// edited file alone (not the old rows plus the new), restoring the old file
// a version of its stored batch; `mode: append` adds and counts repeats.
TEST_F(OrchestratorE2eTest, ARerunAfterEditingTheFileReplacesTheData) {
  Standalone server(dir_.path() + "/data", {"--enable_test_steps"});
  const std::string csv = dir_.path() + "/loans.csv";
  const std::string first = "id,amount\n1,10\n2,20\n3,30\n4,40\n";
  WriteFile(csv, first);
  std::string p =
      WritePipeline("loans", "    - {name: load, type: ingest, file: " + csv +
                                 "}\n    - {name: after, type: noop, after: "
                                 "[load]}\n");
  auto rows = [&](const std::string& out) {
    v1::Run run = ParseRun(out);
    for (const auto& s : run.steps())
      if (s.name() == "load")
        return s.results().fields().at("rows").number_value();
    return -1.0;
  };
  auto r = server.Cli({"--output", "json", "run", p, "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(rows(r.out), 4);
  WriteFile(csv, "id,amount\n1,10\n2,25\n5,50\n");  // Edited.
  r = server.Cli({"run", p, "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("uploaded loans.csv -> dataset 'credit' "
                               "version 2 (3 rows)"));
  WriteFile(csv, first);  // Back to the first file.
  r = server.Cli({"run", p, "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("restored loans.csv -> dataset 'credit' "
                               "version 3 (4 rows)"));
  r = server.Cli({"--output", "json", "run", p, "--watch"});
  EXPECT_EQ(rows(r.out), 4);
  EXPECT_THAT(server.Cli({"run", p}).out,
              HasSubstr("unchanged loans.csv -> dataset 'credit' version 3"));
  // Appending rows the dataset has counts them as repeats.
  const std::string more = dir_.path() + "/more.csv";
  WriteFile(more, first + "6,60\n");
  std::string append = WritePipeline(
      "more",
      "    - {name: load, type: ingest, mode: append, file: " + more + "}\n");
  r = server.Cli({"run", append, "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("uploaded more.csv -> dataset 'credit' version "
                               "4 (9 rows); warning: 4 rows were in the "
                               "dataset already"));
  auto show = server.Cli({"datasets", "show", "credit"});
  EXPECT_THAT(show.out,
              HasSubstr("4        9     4           2        append"));
  auto revert =
      server.Cli({"datasets", "revert", "credit", "--to-version", "3"});
  ASSERT_EQ(revert.exit_code, 0) << revert.err;
  EXPECT_THAT(revert.out,
              HasSubstr("dataset 'credit' version 5: revert to v3 (4 rows)"));
}

TEST_F(OrchestratorE2eTest, FailedAndInvalidPipelinesHaveDistinctExitCodes) {
  Standalone server(dir_.path() + "/data", {"--enable_test_steps"});
  std::string failing =
      WritePipeline("failing",
                    "    - {name: boom, type: fail, code: INTERNAL}\n"
                    "    - {name: after, type: noop, after: [boom]}\n");
  auto r = server.Cli({"run", failing, "--watch"});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("after SKIPPED"));
  std::string invalid =
      WritePipeline("invalid", "    - {name: a, type: noop, after: [ghost]}\n");
  r = server.Cli({"run", invalid});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(
      r.err, HasSubstr("invalid.yaml:7: steps.a.after: no step named 'ghost'"));
  std::string unknown =
      WritePipeline("unknown", "    - {name: a, type: teleport}\n");
  r = server.Cli({"run", unknown});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(
      r.err,
      HasSubstr("unknown.yaml:7: steps.a.type: unknown step type 'teleport'"));
}

TEST_F(OrchestratorE2eTest,
       KillDuringAStepThenRestartCompletesTheRunWithOneSideEffect) {
  std::string effects = dir_.path() + "/effects.txt";
  std::string p = WritePipeline(
      "durable", "    - {name: slow, type: record, file: " + effects +
                     ", value: x, sleep_seconds: 1.5}\n"
                     "    - {name: next, type: noop, after: [slow]}\n");
  std::string run_id;
  {
    Standalone server(dir_.path() + "/data", {"--enable_test_steps"});
    auto r = server.Cli({"--output", "json", "run", p});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    run_id = ParseRun(r.out).id();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    server.Crash();
  }
  EXPECT_EQ(CountLines(effects), 0);  // Killed before the side effect.
  Standalone server(dir_.path() + "/data", {"--enable_test_steps"});
  v1::Run run;
  for (int i = 0; i < 100; ++i) {
    auto r = server.Cli({"--output", "json", "runs", "show", run_id});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    run = ParseRun(r.out);
    if (run.state() == v1::Run::SUCCEEDED || run.state() == v1::Run::FAILED)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(run.state(), v1::Run::SUCCEEDED);
  EXPECT_EQ(StepState(run, "next"), "SUCCEEDED");
  EXPECT_EQ(CountLines(effects), 1);
  EXPECT_THAT(ReadFile(effects), HasSubstr(run_id + "/slow x"));
}

TEST_F(OrchestratorE2eTest, IngestEventTriggersARun) {
  Standalone server(dir_.path() + "/data", {"--enable_test_steps"});
  std::string p = dir_.path() + "/on_ingest.yaml";
  WriteFile(p,
            "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: "
            "on-ingest}\nspec:\n"
            "  dataset: credit\n  steps:\n    - {name: latest, type: ingest}\n"
            "  triggers:\n    - {event: {topic: dataset.ingested, filter: "
            "{dataset: credit}}}\n");
  auto created = server.Cli({"schedules", "create", p});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.out,
              HasSubstr("event ingest/dataset.ingested dataset=credit"));
  // Data for another dataset does not trigger it; credit does.
  std::string other = dir_.path() + "/other.csv";
  WriteFile(other, "a\n1\n");
  ASSERT_EQ(
      server.Cli({"ingest", "--dataset", "other", "--file", other}).exit_code,
      0);
  ASSERT_EQ(server
                .Cli({"ingest", "--dataset", "credit", "--file",
                      SourcePath("examples/credit/credit.csv")})
                .exit_code,
            0);
  v1::ListRunsResponse runs;
  for (int i = 0; i < 100 && runs.runs_size() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto r = server.Cli(
        {"--output", "json", "runs", "list", "--pipeline", "on-ingest"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &runs).ok());
  }
  ASSERT_EQ(runs.runs_size(), 1);
  EXPECT_THAT(runs.runs(0).trigger(), HasSubstr("event:dataset.ingested#2"));
  // A restart resumes from the stored cursor: the event does not fire again.
  EXPECT_EQ(server.Stop(), 0);
  Standalone again(dir_.path() + "/data", {"--enable_test_steps"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto r = again.Cli(
      {"--output", "json", "runs", "list", "--pipeline", "on-ingest"});
  v1::ListRunsResponse after;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &after).ok());
  EXPECT_EQ(after.runs_size(), 1);
}

TEST_F(OrchestratorE2eTest, DistributedProcessesRunPipelinesAndEventTriggers) {
  Standalone ingest(dir_.path() + "/ingest-data", {}, "mlpipe-ingest");
  Standalone orch(
      dir_.path() + "/orch-data",
      {"--enable_test_steps", "--ingest_address=" + ingest.address()},
      "mlpipe-orchestrator");
  std::string p = WritePipeline(
      "dist", "    - {name: load, type: ingest, file: " +
                  SourcePath("examples/credit/credit.csv") +
                  "}\n    - {name: after, type: noop, after: [load]}\n");
  auto r = orch.Cli({"--ingest-server", ingest.address(), "run", p, "--watch",
                     "--allow-outside-files"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("load SUCCEEDED: batch:"));
  EXPECT_THAT(r.out, HasSubstr(" dataset:credit@v1"));
  // The orchestrator follows the ingestion service's events across processes.
  std::string t = dir_.path() + "/on_ingest.yaml";
  WriteFile(t,
            "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: "
            "on-ingest}\nspec:\n"
            "  dataset: credit\n  steps:\n    - {name: latest, type: ingest}\n"
            "  triggers:\n    - {event: dataset.ingested}\n");
  ASSERT_EQ(orch.Cli({"schedules", "create", t}).exit_code, 0);
  std::string more = dir_.path() + "/more.csv";
  WriteFile(more, ReadFile(SourcePath("examples/credit/credit.csv")));
  ASSERT_EQ(
      ingest.Cli({"ingest", "--dataset", "credit", "--file", more}).exit_code,
      0);
  v1::ListRunsResponse runs;
  for (int i = 0; i < 100 && runs.runs_size() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    auto l = orch.Cli(
        {"--output", "json", "runs", "list", "--pipeline", "on-ingest"});
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(l.out, &runs).ok());
  }
  ASSERT_GE(runs.runs_size(), 1);
  EXPECT_THAT(runs.runs(0).trigger(), HasSubstr("event:dataset.ingested#"));
}

TEST_F(OrchestratorE2eTest,
       SchemaViolationFailsTheRunAtValidateNamingColumnAndRule) {
  Standalone server(dir_.path() + "/data", {"--enable_test_steps"});
  std::string data = dir_.path() + "/loans.csv";
  WriteFile(data, "Status,Income\ngood,100\nbad,5000\ngood,300\n");
  auto pipeline = [&](int max) {
    std::string p = dir_.path() + "/validate" + std::to_string(max) + ".yaml";
    WriteFile(
        p,
        "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: "
        "loans}\nspec:\n"
        "  dataset: loans\n  label: Status\n  steps:\n"
        "    - {name: load, type: ingest, file: loans.csv}\n"
        "    - name: validate\n      type: validate\n      after: [load]\n"
        "      fail_on: [out_of_range, missing_column]\n"
        "      schema: {columns: {Status: {categories: [good, bad]}, Income: "
        "{min: 0, max: " +
            std::to_string(max) +
            "}}}\n"
            "    - {name: next, type: noop, after: [validate]}\n");
    return p;
  };
  auto r = server.Cli({"run", pipeline(1000), "--watch"});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_THAT(
      r.out,
      HasSubstr("validate FAILED: validation of loans@v1 failed: Income: "
                "out_of_range (maximum 5000 is above the allowed 1000)"));
  EXPECT_THAT(r.out, HasSubstr("next SKIPPED"));
  auto ok = server.Cli({"--output", "json", "run", pipeline(10000), "--watch"});
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(StepState(ParseRun(ok.out), "validate"), "SUCCEEDED");
}

}  // namespace
}  // namespace mlpipe::testing

namespace mlpipe::testing {
namespace {

// A prepare step writes a feature set with an online view; the CLI shows it,
// serves online vectors, and reports skew.
TEST(PrepareE2eTest, PrepareStepFeatureSetAndOnlineLookupsThroughTheCli) {
  TempDir dir;
  Standalone server(dir.path() + "/data");
  std::string csv = dir.path() + "/accounts.csv";
  WriteFile(csv,
            "id,ts,balance,tier\n"
            "1,2024-01-01T00:00:00,100,gold\n"
            "2,2024-01-01T00:00:00,50,silver\n"
            "1,2024-01-03T00:00:00,300,gold\n");
  std::string p = dir.path() + "/features.yaml";
  WriteFile(p,
            "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: acct}\n"
            "spec:\n  dataset: accounts\n  steps:\n"
            "    - {name: load, type: ingest, file: accounts.csv}\n"
            "    - name: features\n      type: prepare\n      after: [load]\n"
            "      entity_key: id\n      event_timestamp: ts\n"
            "      transforms:\n"
            "        - {columns: [balance], scale: minmax}\n"
            "        - {columns: [tier], one_hot: true}\n");
  auto r = server.Cli({"--output", "json", "run", p, "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  v1::Run run = ParseRun(r.out);
  ASSERT_EQ(StepState(run, "features"), "SUCCEEDED");
  std::string fs;
  for (const auto& s : run.steps()) {
    if (s.name() == "features")
      fs = s.results().fields().at("feature_set").string_value();
  }
  ASSERT_THAT(fs, ::testing::StartsWith("fs-"));
  auto show = server.Cli({"features", "show", fs});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("accounts version 1, 3 rows"));
  EXPECT_THAT(show.out, HasSubstr("(key id, event time ts)"));
  EXPECT_THAT(show.out, HasSubstr("(x - 50) / 250"));
  // The entities' raw values, event time and version; the transformed
  // vector on request.
  auto get = server.Cli({"features", "get", fs, "--keys", "1,2"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out,
              HasSubstr("KEY  VERSION  EVENT TIME           balance  tier"));
  EXPECT_THAT(get.out,
              HasSubstr("1    1        2024-01-03 00:00:00  300      gold"));
  EXPECT_THAT(get.out,
              HasSubstr("2    1        2024-01-01 00:00:00  50       silver"));
  EXPECT_THAT(get.out, Not(HasSubstr("tier=gold")));
  auto vector =
      server.Cli({"features", "get", fs, "--keys", "1", "--transformed"});
  ASSERT_EQ(vector.exit_code, 0) << vector.err;
  EXPECT_THAT(vector.out, HasSubstr("300      gold"));
  EXPECT_THAT(vector.out, HasSubstr("transformed (" + fs + ")"));
  EXPECT_THAT(vector.out, HasSubstr("balance  tier=gold  tier=silver"));
  // A switch before another flag does not swallow it.
  auto past_vector = server.Cli({"features", "get", fs, "--keys", "1",
                                 "--transformed", "--as-of", "2024-01-02"});
  ASSERT_EQ(past_vector.exit_code, 0) << past_vector.err;
  EXPECT_THAT(past_vector.out,
              HasSubstr("1    1        2024-01-01 00:00:00  100      gold"));
  EXPECT_THAT(past_vector.out, HasSubstr("0.2      1          0"));
  // Lookups with raw values (from disk) are timed apart from the rest.
  EXPECT_THAT(
      HttpGet(server.metrics_port(), "/metrics"),
      HasSubstr("mlpipe_prep_online_lookup_seconds_count{raw=\"true\"}"));
  // A flag that takes a value is never given the next flag, nor "true".
  for (auto args : std::vector<std::vector<std::string>>{
           {"features", "get", fs, "--keys", "--as-of", "2024-01-02"},
           {"features", "get", fs, "--as-of", "2024-01-02", "--keys"}}) {
    auto no_value = server.Cli(args);
    EXPECT_EQ(no_value.exit_code, 2) << no_value.out;
    EXPECT_THAT(no_value.err, HasSubstr("--keys: needs a value"));
  }
  auto json =
      server.Cli({"--output", "json", "features", "get", fs, "--keys", "1"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  std::string compact = json.out;
  std::erase_if(compact, [](char c) { return c == ' ' || c == '\n'; });
  EXPECT_THAT(compact, HasSubstr(R"("raw_columns":["balance","tier"])"));
  EXPECT_THAT(compact, HasSubstr(R"("raw":[300,"gold"])"));
  EXPECT_THAT(compact, HasSubstr(R"("values":[1,1,0])"));
  auto past = server.Cli({"--output", "json", "features", "get", fs, "--keys",
                          "1", "--as-of", "2024-01-02T00:00:00Z"});
  ASSERT_EQ(past.exit_code, 0) << past.err;
  EXPECT_THAT(past.out, HasSubstr("0.2"));
  // A date is that day's midnight (UTC), as is a time without a zone.
  for (const char* when : {"2024-01-02", "2024-01-02 00:00"}) {
    auto day = server.Cli({"--output", "json", "features", "get", fs, "--keys",
                           "1", "--as-of", when});
    EXPECT_EQ(day.exit_code, 0) << day.err;
    EXPECT_EQ(day.out, past.out) << when;
  }
  auto table = server.Cli(
      {"features", "get", fs, "--keys", "1", "--as-of", "2024-01-02"});
  EXPECT_THAT(table.out, HasSubstr("EVENT TIME"));
  auto not_a_time = server.Cli(
      {"features", "get", fs, "--keys", "1", "--as-of", "last tuesday"});
  EXPECT_EQ(not_a_time.exit_code, 2);
  EXPECT_THAT(not_a_time.err,
              HasSubstr("'last tuesday' is not a time: expected a "
                        "date (2024-03-01)"));
  auto missing = server.Cli({"features", "get", fs, "--keys", "nobody"});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_EQ(server.Cli({"features", "show", "fs-0000"}).exit_code, 3);
  EXPECT_EQ(server.Cli({"skew", "accounts", "accounts"}).exit_code, 0);

  // A bad transform is rejected before the run starts, naming the step.
  std::string bad = dir.path() + "/bad.yaml";
  WriteFile(bad,
            "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: bad}\n"
            "spec:\n  dataset: accounts\n  steps:\n"
            "    - {name: f, type: prepare, transforms: [{columns: [balance], "
            "scale: robust}]}\n");
  auto rejected = server.Cli({"run", bad});
  EXPECT_EQ(rejected.exit_code, 4);
  EXPECT_THAT(rejected.err, HasSubstr("steps.f.transforms[0].scale"));
}

TEST(SplitE2eTest, ExamplePipelineSplitsThenFitsOnTheTrainingPart) {
  TempDir dir;
  Standalone server(dir.path() + "/data");
  auto r = server.Cli({"--output", "json", "run",
                       SourcePath("examples/credit/pipeline.yaml"), "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  v1::Run run = ParseRun(r.out);
  ASSERT_EQ(StepState(run, "split"), "SUCCEEDED");
  ASSERT_EQ(StepState(run, "features"), "SUCCEEDED");
  std::string split, fs;
  for (const auto& s : run.steps()) {
    if (s.name() == "split") {
      split = s.results().fields().at("split").string_value();
      EXPECT_EQ(s.results().fields().at("train_rows").number_value(), 3118);
      EXPECT_EQ(s.results().fields().at("test_rows").number_value(), 668);
    }
    if (s.name() == "features")
      fs = s.results().fields().at("feature_set").string_value();
  }
  ASSERT_THAT(split, ::testing::StartsWith("sp-"));
  // The features were fitted on the split's training part.
  auto features = server.Cli({"features", "show", fs});
  ASSERT_EQ(features.exit_code, 0) << features.err;
  EXPECT_THAT(features.out, HasSubstr("split " + split + " part train"));

  auto show = server.Cli({"splits", "show", split});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("stratified (seed 42)"));
  EXPECT_THAT(show.out, HasSubstr("label        Status (classes)"));
  EXPECT_THAT(show.out, HasSubstr("3,118"));
  EXPECT_THAT(show.out, HasSubstr("bad 28."));  // 28.1% bad in every part.
  auto json = server.Cli({"--output", "json", "splits", "show", split});
  ASSERT_EQ(json.exit_code, 0);
  v1::Split parsed;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok())
      << json.out;
  ASSERT_EQ(parsed.parts_size(), 3);
  EXPECT_EQ(parsed.parts(0).fold_rows_size(), 5);
  auto list = server.Cli({"splits", "list"});
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, HasSubstr(split));
  EXPECT_EQ(server.Cli({"splits", "show", "sp-0000"}).exit_code, 3);

  // The train step stored one model per candidate; the CLI shows them.
  ASSERT_EQ(StepState(run, "train"), "SUCCEEDED");
  for (const auto& s : run.steps()) {
    if (s.name() != "train") continue;
    EXPECT_EQ(s.results().fields().at("models").string_value(),
              "credit:1,credit:2");
    EXPECT_GT(s.results().fields().at("gbdt_auc").number_value(), 0.8);
  }
  auto models = server.Cli({"models", "list"});
  ASSERT_EQ(models.exit_code, 0) << models.err;
  EXPECT_THAT(models.out, HasSubstr("credit:2  gbdt"));
  auto model = server.Cli({"models", "show", "credit:1"});
  ASSERT_EQ(model.exit_code, 0) << model.err;
  EXPECT_THAT(model.out, HasSubstr("logistic_regression"));
  EXPECT_THAT(model.out, HasSubstr("split " + split + ", feature set " + fs));
  EXPECT_EQ(server.Cli({"models", "show", "credit:9"}).exit_code, 3);

  // Ad hoc training from the CLI: cross-validated random search.
  auto trained =
      server.Cli({"train", "--split", split, "--feature-set", fs, "--config",
                  SourcePath("examples/credit/train.yaml")});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_THAT(trained.out, HasSubstr("best model: credit-adhoc:"));
  std::string bad_train = dir.path() + "/bad_train.yaml";
  WriteFile(bad_train, "candidates: [{name: x, algorithm: svm}]\n");
  auto train_rejected =
      server.Cli({"train", "--split", split, "--config", bad_train});
  EXPECT_EQ(train_rejected.exit_code, 4);
  EXPECT_THAT(train_rejected.err,
              HasSubstr("candidates[0].algorithm: unknown \"svm\""));

  // Re-running: the split and the features are cached.
  auto again =
      server.Cli({"--output", "json", "run",
                  SourcePath("examples/credit/pipeline.yaml"), "--watch"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(StepState(ParseRun(again.out), "split"), "CACHED");

  // Ad hoc: a group split of the feature set from the CLI.
  auto created =
      server.Cli({"splits", "create", "--feature-set", fs, "--strategy",
                  "shuffled", "--ratios", "train=0.8,test=0.2", "--seed", "3"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("3,563"));
  // Bad split parameters are rejected before the run, naming the step.
  std::string bad = dir.path() + "/bad.yaml";
  WriteFile(bad,
            "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: bad}\n"
            "spec:\n  dataset: credit\n  steps:\n"
            "    - {name: s, type: split, strategy: random, "
            "ratios: {train: 0.7, test: 0.2}}\n");
  auto rejected = server.Cli({"run", bad});
  EXPECT_EQ(rejected.exit_code, 4);
  EXPECT_THAT(rejected.err, HasSubstr("steps.s.parts: ratios sum to 0.9"));
  EXPECT_EQ(server
                .Cli({"splits", "create", "--dataset", "credit", "--strategy",
                      "bogus"})
                .exit_code,
            4);
}

}  // namespace
}  // namespace mlpipe::testing
