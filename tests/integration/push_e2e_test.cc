// Streaming push end to end, on the standalone server: an application
// pushes an event (`mlpipe push`); a model deployed by a pipeline that
// predicts by entity key scores the new feature values as soon as the push
// is acknowledged; the pipeline's next run trains on a version with the
// pushed row.
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/ingest_service.pb.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;

// credit.csv with an entity key in front ("c0", "c1", ... by row), and the
// JSON line of row `row` with `changes` applied.
std::string LoansCsv(int row, const std::map<std::string, std::string>& changes,
                     std::string* json) {
  std::ifstream in(SourcePath("examples/credit/credit.csv"));
  std::string line, out;
  std::vector<std::string> header;
  for (int r = -1; std::getline(in, line); ++r) {
    out += (r < 0 ? std::string("id") : "c" + std::to_string(r)) + "," + line +
           "\n";
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    for (std::string& c : cells) {  // Quoted cells: no commas inside.
      if (c.size() >= 2 && c.front() == '"') c = c.substr(1, c.size() - 2);
    }
    if (r < 0) header = cells;
    if (r != row) continue;
    *json = "{\"id\": \"c" + std::to_string(r) + "\"";
    for (size_t c = 0; c < cells.size(); ++c) {
      std::string v =
          changes.contains(header[c]) ? changes.at(header[c]) : cells[c];
      const bool number = !v.empty() && v.find_first_not_of("0123456789.-") ==
                                            std::string::npos;
      *json += ", \"" + header[c] + "\": " +
               (v.empty() ? "null"
                : number  ? v
                          : "\"" + v + "\"");
    }
    *json += "}\n";
  }
  return out;
}

grpc::Status TryPredictKey(const Standalone& s, const std::string& key,
                           double* value) {
  auto ch =
      grpc::CreateChannel(s.address(), grpc::InsecureChannelCredentials());
  v1::PredictRequest req;
  req.set_model("loans");
  req.add_entity_keys(key);
  v1::PredictResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto st = v1::Scoring::NewStub(ch)->Predict(&ctx, req, &resp);
  *value = st.ok() && resp.predictions_size() == 1 ? resp.predictions(0).value()
                                                   : -1;
  return st;
}

double PredictKey(const Standalone& s, const std::string& key) {
  double value;
  auto st = TryPredictKey(s, key, &value);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return value;
}

// Milliseconds from now until `s` scores key `key` other than `before`
// (5 s at most).
double MsUntilChanged(const Standalone& s, const std::string& key,
                      double before, double* after) {
  const auto start = std::chrono::steady_clock::now();
  *after = before;
  while (*after == before &&
         std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    *after = PredictKey(s, key);
  }
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - start)
      .count();
}

TEST(PushE2eTest, APushedEventIsScoredAtOnceAndTheNextRunTrainsOnIt) {
  TempDir dir;
  Standalone server(dir.path() + "/data");
  std::string event;
  WriteFile(dir.path() + "/loans.csv",
            LoansCsv(5, {{"Income", "900"}, {"Amount", "100"}}, &event));
  WriteFile(dir.path() + "/event.jsonl", event);
  // The example pipeline by entity key, reading the dataset's latest
  // version (what is pushed to it included) instead of uploading a file.
  std::string yaml = ReadFile(SourcePath("examples/credit/by-entity-key.yaml"));
  const std::string load = "{name: load, type: ingest, file: loans.csv}";
  ASSERT_THAT(yaml, HasSubstr(load));
  WriteFile(dir.path() + "/loans.yaml",
            absl::StrReplaceAll(yaml, {{load, "{name: load, type: ingest}"}}));
  auto r = server.Cli(
      {"ingest", "--dataset", "loans", "--file", dir.path() + "/loans.csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = server.Cli({"run", dir.path() + "/loans.yaml", "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("dataset:loans@v1"));
  const double before = PredictKey(server, "c5");

  r = server.Cli({"push", "--dataset", "loans", "--file",
                  dir.path() + "/event.jsonl", "--producer", "app"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("durable through line 1"));
  double after;
  const double ms = MsUntilChanged(server, "c5", before, &after);
  std::cout << "prediction for c5: " << before << " before the push, " << after
            << " " << ms << " ms after its acknowledgement\n";
  EXPECT_NE(after, before);
  EXPECT_LT(ms, 250);  // The follower applies it as it commits.
  r = server.Cli({"--output", "json", "datasets", "show", "loans"});
  v1::GetDatasetResponse ds;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &ds).ok());
  EXPECT_EQ(ds.pushed_rows_pending(), 1);
  EXPECT_EQ(ds.dataset().versions_size(), 1);

  // The next run's latest version has the pushed row (compacted at once).
  r = server.Cli({"run", dir.path() + "/loans.yaml", "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("dataset:loans@v2"));
  r = server.Cli({"--output", "json", "datasets", "show", "loans"});
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &ds).ok());
  EXPECT_EQ(ds.pushed_rows_pending(), 0);
  EXPECT_EQ(ds.dataset().row_count(), 4455);
  ASSERT_EQ(ds.batches_size(), 2);
  EXPECT_EQ(ds.batches(1).source(), "push");
  // The model the second run deployed still scores the pushed values.
  EXPECT_NE(PredictKey(server, "c5"), before);
}

// With --online_store=redis://..., pushed values reach the Redis copy as
// they commit: a scoring replica of its own that reads features from Redis
// alone (its prep address leads nowhere) scores them as soon as the push is
// acknowledged.
TEST(PushE2eTest, APushedEventReachesAReplicaReadingRedisAtOnce) {
  TempDir dir;
  RedisServer redis;
  Standalone server(dir.path() + "/data", {"--online_store=" + redis.url()});
  std::string event;
  WriteFile(dir.path() + "/loans.csv",
            LoansCsv(7, {{"Income", "900"}, {"Amount", "100"}}, &event));
  WriteFile(dir.path() + "/event.jsonl", event);
  WriteFile(dir.path() + "/loans.yaml",
            ReadFile(SourcePath("examples/credit/by-entity-key.yaml")));
  auto r = server.Cli({"run", dir.path() + "/loans.yaml", "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string a = server.address();
  Standalone replica(
      dir.path() + "/replica",
      {"--online_store=" + redis.url(), "--prep_address=127.0.0.1:1",
       "--train_address=" + a, "--ingest_address=" + a,
       "--orchestrator_address=" + a, "--monitor_address=" + a},
      "mlpipe-score");
  double before = -1;
  grpc::Status s;
  for (int i = 0; i < 300; ++i) {  // Until the replica has loaded its routes.
    s = TryPredictKey(replica, "c7", &before);
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  r = server.Cli({"push", "--dataset", "loans", "--file",
                  dir.path() + "/event.jsonl", "--producer", "app"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  double after;
  const double ms = MsUntilChanged(replica, "c7", before, &after);
  std::cout << "prediction for c7 from Redis: " << before
            << " before the push, " << after << " " << ms
            << " ms after its acknowledgement\n";
  EXPECT_NE(after, before);
  EXPECT_LT(ms, 250);
  EXPECT_EQ(after, PredictKey(server, "c7"));  // As prep's own store.
}

// examples/push/push_events.py, with stubs generated from the .proto files:
// pushes a file; run again on the file grown, it sends only the new lines.
TEST(PushE2eTest, ThePythonExamplePushesEachLineOnce) {
  TempDir dir;
  Standalone server(dir.path() + "/data");
  WriteFile(dir.path() + "/seed.csv", "user,amount\nu0,0\n");
  auto r = server.Cli(
      {"ingest", "--dataset", "ev", "--file", dir.path() + "/seed.csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string stubs = dir.path() + "/stubs";
  ASSERT_EQ(RunCommand({"/bin/mkdir", "-p", stubs}).exit_code, 0);
  auto gen =
      RunCommand({"/usr/bin/protoc", "-I", SourcePath("proto"),
                  "--python_out=" + stubs, "--grpc_python_out=" + stubs,
                  "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                  "mlpipe/v1/ingest_service.proto", "mlpipe/v1/dataset.proto",
                  "mlpipe/v1/frame.proto"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  auto lines = [](int from, int to) {
    std::string s;
    for (int i = from; i < to; ++i)
      s += "{\"user\": \"u" + std::to_string(i % 9) +
           "\", \"amount\": " + std::to_string(i) + "}\n";
    return s;
  };
  const std::string events = dir.path() + "/events.jsonl";
  auto push = [&] {
    return RunCommand({"/usr/bin/python3",
                       SourcePath("examples/push/push_events.py"), stubs,
                       server.address(), "ev", "app-1", events});
  };
  WriteFile(events, lines(1, 1201));
  r = push();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "1200\n");
  WriteFile(events, lines(1, 1301));  // Grown by 100 lines.
  r = push();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "1300\n");
  r = server.Cli({"push", "--dataset", "ev", "--file", "/dev/null", "--flush",
                  "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = server.Cli({"--output", "json", "datasets", "show", "ev"});
  v1::GetDatasetResponse ds;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &ds).ok());
  EXPECT_EQ(ds.dataset().row_count(),
            1301);  // The seed row and each line once.
}

}  // namespace
}  // namespace mlpipe::testing
