// The standalone server and the mlpipe CLI as real processes.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/table/csv.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/evaluate_service.pb.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"
#include "mlpipe/v1/monitor_service.pb.h"
#include "mlpipe/v1/orchestrator_service.pb.h"
#include "mlpipe/v1/score_service.pb.h"
#include "mlpipe/v1/train_service.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every cell of a CSV file as text, header included ("" for an empty cell).
std::vector<std::vector<std::string>> Cells(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  table::CsvParser parser({}, [&](table::TextRows& t) {
    for (size_t r = 0; r < t.num_rows(); ++r) {
      std::vector<std::string> row;
      for (size_t c = 0; c < t.num_columns(); ++c)
        row.emplace_back(t.cell(r, c));
      rows.push_back(row);
    }
    return absl::OkStatus();
  });
  EXPECT_TRUE(parser.Feed(ReadFile(path)).ok());
  EXPECT_TRUE(parser.Finish().ok());
  rows.insert(rows.begin(), parser.column_names());
  return rows;
}

template <typename Msg>
Msg FromJson(const std::string& json) {
  Msg m;
  auto s = google::protobuf::util::JsonStringToMessage(json, &m);
  EXPECT_TRUE(s.ok()) << s.ToString() << "\n" << json;
  return m;
}

class CliTest : public ::testing::Test {
 protected:
  TempDir dir_;
  Standalone server_{dir_.path() + "/data"};
};

TEST_F(CliTest, ExportEqualsInputCellForCell) {
  const std::string input = SourcePath("examples/credit/credit.csv");
  auto r = server_.Cli({"ingest", "--dataset", "credit", "--file", input});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ingested 4,454 rows into 'credit' version 1"));
  const std::string out = dir_.path() + "/credit.csv";
  r = server_.Cli({"export", "--dataset", "credit", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto a = Cells(input), b = Cells(out);
  ASSERT_EQ(a.size(), 4455u);
  ASSERT_EQ(a.size(), b.size());
  int missing = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i], b[i]) << "row " << i;
    for (const auto& c : a[i]) missing += c.empty();
  }
  EXPECT_GT(missing, 400);  // credit.csv has missing values; they stay missing.
}

// --out naming something that is not a regular file (a pipe, /dev/stdout)
// is written in place, never replaced by a file; --out - is stdout; a
// numeric flag that is not a number exits 2 naming the flag.
TEST_F(CliTest, ExportWritesIntoPipesAndBadNumbersAreUsageErrors) {
  ASSERT_EQ(server_
                .Cli({"ingest", "--dataset", "credit", "--file",
                      SourcePath("examples/credit/credit.csv")})
                .exit_code,
            0);
  const std::string fifo = dir_.path() + "/pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = ReadFile(fifo); });
  auto r = server_.Cli({"export", "--dataset", "credit", "--out", fifo});
  reader.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));  // Still the pipe.
  EXPECT_EQ(std::count(got.begin(), got.end(), '\n'), 4455);
  r = server_.Cli({"export", "--dataset", "credit", "--out", "-"});
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 4455);
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"export", "--dataset", "credit", "--out", "-", "--version", "3x"},
           {"stats", "credit", "--version", "x"},
           {"skew", "credit", "credit", "--threshold", "nan"},
           {"runs", "list", "--limit", "ten"}}) {
    auto u = server_.Cli(bad);
    EXPECT_EQ(u.exit_code, 2) << bad[0] << u.err;
    EXPECT_THAT(u.err, HasSubstr("takes a")) << bad[0];
  }
  // Text that is not UTF-8 is refused before it is sent (the server could
  // not read the request, and said something else).
  auto u = server_.Cli({"ingest", "--dataset", "credit", "--file",
                        SourcePath("examples/credit/credit.csv"),
                        "--idempotency-key", "k\xff"});
  EXPECT_EQ(u.exit_code, 2) << u.err;
  EXPECT_THAT(u.err, HasSubstr("--idempotency-key: not valid UTF-8"));
  u = server_.Cli({"datasets", "show",
                   "cr\xe9"
                   "dit"});
  EXPECT_EQ(u.exit_code, 2) << u.err;
  EXPECT_THAT(u.err, HasSubstr("argument 3: not valid UTF-8"));
}

TEST_F(CliTest, TrickyCsvRoundTrips) {
  const std::string input = dir_.path() + "/tricky.csv";
  WriteFile(input,
            "name,note,when,score\r\n"
            "\"Müller, A\",\"said \"\"hi\"\"\",2001-01-01T00:01:00,1.25\r\n"
            "東京,\"two\nlines\",,-3\r\n"
            ",plain,2001-01-02T10:00:00,\r\n");
  auto r = server_.Cli({"ingest", "--dataset", "tricky", "--file", input});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string out = dir_.path() + "/out.csv";
  ASSERT_EQ(
      server_.Cli({"export", "--dataset", "tricky", "--out", out}).exit_code,
      0);
  EXPECT_EQ(Cells(input), Cells(out));
  r = server_.Cli({"--output", "json", "datasets", "show", "tricky"});
  ASSERT_EQ(r.exit_code, 0);
  auto resp = FromJson<v1::GetDatasetResponse>(r.out);
  EXPECT_EQ(resp.dataset().schema().fields(2).type(), v1::TIMESTAMP);
  EXPECT_EQ(resp.dataset().schema().fields(3).type(), v1::NUMERIC);
}

// Integers past 2^53 stay exact (the column stays text: as numbers they
// would change, 9007199254740993 -> ...992); decimals keep their value
// (0.10 is the number 0.1); integers a double holds exactly stay numbers.
TEST_F(CliTest, LargeIntegersAndDecimalsRoundTrip) {
  const std::string input = dir_.path() + "/ids.csv";
  WriteFile(input,
            "id,amount,count\n"
            "9007199254740993,0.10,9007199254740992\n"
            "12345678901234567890,2.50,-42\n"
            "-9223372036854775809,1e-3,7\n");
  ASSERT_EQ(
      server_.Cli({"ingest", "--dataset", "ids", "--file", input}).exit_code,
      0);
  auto r = server_.Cli({"export", "--dataset", "ids", "--out", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "id,amount,count\n"
            "9007199254740993,0.1,9007199254740992\n"
            "12345678901234567890,2.5,-42\n"
            "-9223372036854775809,0.001,7\n");
  r = server_.Cli({"--output", "json", "datasets", "show", "ids"});
  auto resp = FromJson<v1::GetDatasetResponse>(r.out);
  EXPECT_EQ(resp.dataset().schema().fields(0).type(), v1::CATEGORICAL);
  EXPECT_EQ(resp.dataset().schema().fields(1).type(), v1::NUMERIC);
  EXPECT_EQ(resp.dataset().schema().fields(2).type(), v1::NUMERIC);
}

TEST_F(CliTest, IdempotentRetryAndSchemaConflict) {
  const std::string input = SourcePath("examples/credit/credit.csv");
  auto first = server_.Cli({"--output", "json", "ingest", "--dataset", "c",
                            "--file", input, "--idempotency-key", "k1"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto retry = server_.Cli({"--output", "json", "ingest", "--dataset", "c",
                            "--file", input, "--idempotency-key", "k1"});
  ASSERT_EQ(retry.exit_code, 0) << retry.err;
  auto a = FromJson<v1::IngestResponse>(first.out);
  auto b = FromJson<v1::IngestResponse>(retry.out);
  EXPECT_TRUE(b.deduplicated());
  EXPECT_EQ(a.batch().id(), b.batch().id());

  const std::string other = dir_.path() + "/other.csv";
  WriteFile(other, "Status,Income,Extra\ngood,1,2\n");
  auto conflict = server_.Cli({"ingest", "--dataset", "c", "--file", other});
  EXPECT_EQ(conflict.exit_code, 4);
  EXPECT_THAT(conflict.err, HasSubstr("unexpected columns [Extra]"));
  EXPECT_THAT(conflict.err, HasSubstr("missing columns [Age"));
  auto show = server_.Cli({"--output", "json", "datasets", "show", "c"});
  EXPECT_EQ(FromJson<v1::GetDatasetResponse>(show.out).batches_size(), 1);
}

// Every field of `m`'s type (a oneof's only when set) is a key of `json`,
// the command's output parsed as `m`; so are the fields of the first
// element of each list of messages, one level down.
void ExpectEveryField(const std::string& json,
                      const google::protobuf::Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->real_containing_oneof() != nullptr && !r->HasField(m, f)) continue;
    std::string key = f->name();
    if (key.ends_with("_micros")) {  // Times, printed as RFC 3339.
      key.resize(key.size() - 7);
      if (key != "time" && !key.ends_with("_time")) key += "_time";
    }
    EXPECT_THAT(json, HasSubstr("\"" + key + "\": "))
        << d->full_name() << "." << f->name();
    if (f->is_repeated() && !f->is_map() &&
        f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
        r->FieldSize(m, f) > 0)
      ExpectEveryField(json, r->GetRepeatedMessage(m, f, 0));
  }
}

// --output json is for scripts: every field, zeros and empty lists too, in
// the form the API's JSON reader takes back (counts as numbers).
TEST_F(CliTest, EveryCommandsJsonHasEveryFieldZerosToo) {
  const std::string input = SourcePath("examples/credit/credit.csv");
  std::string out;  // The last command's.
  auto check = [&](std::vector<std::string> command,
                   google::protobuf::Message* m) {
    command.insert(command.begin(), {"--output", "json"});
    auto r = server_.Cli(command);
    ASSERT_EQ(r.exit_code, 0) << command[2] << ": " << r.err;
    google::protobuf::util::JsonParseOptions o;
    o.ignore_unknown_fields = true;  // Only the X_micros -> X_time keys.
    auto s = google::protobuf::util::JsonStringToMessage(r.out, m, o);
    ASSERT_TRUE(s.ok()) << command[2] << ": " << s << "\n" << r.out;
    ExpectEveryField(r.out, *m);
    out = r.out;
  };
  v1::IngestResponse ingested;
  check({"ingest", "--dataset", "c", "--file", input}, &ingested);
  EXPECT_THAT(out, HasSubstr("\"deduplicated\": false"));
  v1::ListDatasetsResponse datasets;
  check({"datasets", "list"}, &datasets);
  v1::GetDatasetResponse dataset;
  check({"datasets", "show", "c"}, &dataset);
  EXPECT_THAT(out, HasSubstr("\"row_count\": 4454,"));  // A number.
  v1::ListRunsResponse runs;
  check({"runs", "list"}, &runs);
  v1::ListModelsResponse models;
  check({"models", "list"}, &models);
  v1::ListAlertsResponse alerts;
  check({"alerts", "list"}, &alerts);
  v1::ListEvaluationsResponse evaluations;
  check({"eval", "list"}, &evaluations);
  v1::ListDeploymentsResponse deployments;
  check({"deployments", "list"}, &deployments);
  // YAML: the same tree.
  auto yaml = server_.Cli({"--output", "yaml", "datasets", "show", "c"});
  ASSERT_EQ(yaml.exit_code, 0) << yaml.err;
  EXPECT_THAT(yaml.out, HasSubstr("name: c\n"));
  EXPECT_THAT(yaml.out, HasSubstr("row_count: 4454\n"));
}

// Help per command (`mlpipe COMMAND --help`, `mlpipe help COMMAND`), with
// examples; the servers' --help lists their flags.
TEST_F(CliTest, HelpPerCommandAndServerFlags) {
  auto predict = RunCommand({Binary("mlpipe"), "predict", "--help"});
  EXPECT_EQ(predict.exit_code, 0);
  EXPECT_THAT(predict.out, HasSubstr("usage (mlpipe predict):"));
  EXPECT_THAT(predict.out, HasSubstr("[--routing-key K]"));
  EXPECT_THAT(predict.out, HasSubstr("examples:\n  mlpipe predict --json"));
  EXPECT_THAT(predict.out, Not(HasSubstr("datasets list")));
  auto deploy = RunCommand({Binary("mlpipe"), "help", "deploy"});
  EXPECT_EQ(deploy.exit_code, 0);
  EXPECT_THAT(deploy.out, HasSubstr("[--canary P | --shadow]"));
  auto datasets = RunCommand({Binary("mlpipe"), "help", "datasets"});
  EXPECT_THAT(datasets.out, HasSubstr("datasets revert NAME"));
  EXPECT_THAT(datasets.out, HasSubstr("datasets delete NAME"));
  EXPECT_EQ(RunCommand({Binary("mlpipe"), "help", "nope"}).exit_code, 2);
  // Only commands: not a line of the exit codes or flags.
  EXPECT_EQ(RunCommand({Binary("mlpipe"), "help", "4"}).exit_code, 2);
  auto all = RunCommand({Binary("mlpipe"), "--help"});
  EXPECT_EQ(all.exit_code, 0);
  EXPECT_THAT(all.out, HasSubstr("exit codes (every command):"));
  auto server = RunCommand({Binary("mlpipe-standalone"), "--help"});
  EXPECT_THAT(server.out + server.err, HasSubstr("--grpc_port"));
  EXPECT_THAT(server.out + server.err, HasSubstr("--score_max_concurrent"));
  EXPECT_THAT(server.out + server.err, Not(HasSubstr("No flags matched")));
  EXPECT_THAT(server.out + server.err, HasSubstr("--online_store"));
  // A flag a module refuses is a usage error too: exit 2, naming it.
  TempDir data;
  auto bad = RunCommand({Binary("mlpipe-standalone"), "--data_dir", data.path(),
                         "--grpc_port=0", "--metrics_port=-1",
                         "--online_store=redsi://cache:6379"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_THAT(bad.err, HasSubstr("--online_store: 'redsi://cache:6379': not a "
                                 "redis URL"));
}

TEST_F(CliTest, ListShowDeleteAndExitCodes) {
  ASSERT_EQ(server_
                .Cli({"ingest", "--dataset", "a", "--file",
                      SourcePath("examples/credit/credit.csv")})
                .exit_code,
            0);
  auto list = server_.Cli({"datasets", "list"});
  ASSERT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.out, HasSubstr("NAME"));
  EXPECT_THAT(list.out, HasSubstr("4,454"));
  auto json = server_.Cli({"--output", "json", "datasets", "list"});
  EXPECT_EQ(FromJson<v1::ListDatasetsResponse>(json.out).datasets_size(), 1);

  auto stats = server_.Cli({"stats", "a", "--columns", "Income,Home"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_THAT(stats.out, HasSubstr("4,454 rows"));
  EXPECT_THAT(stats.out, HasSubstr("381"));  // Income's missing cells.
  EXPECT_THAT(stats.out, HasSubstr("owner (2,107)"));  // Home's top value.
  EXPECT_EQ(server_.Cli({"stats", "a", "--columns", "Nope"}).exit_code, 4);
  auto valid = server_.Cli({"validate", "a"});
  EXPECT_EQ(valid.exit_code, 0) << valid.err;
  EXPECT_THAT(valid.out, HasSubstr("PASSED"));
  const std::string schema = dir_.path() + "/schema.yaml";
  WriteFile(schema, "columns:\n  Age: {min: 18, max: 60}\n");
  auto invalid = server_.Cli(
      {"validate", "a", "--schema", schema, "--fail-on", "out_of_range"});
  EXPECT_EQ(invalid.exit_code, 4);
  EXPECT_THAT(invalid.out, HasSubstr("maximum 68 is above the allowed 60"));

  EXPECT_EQ(server_.Cli({"datasets", "show", "nope"}).exit_code, 3);
  EXPECT_EQ(server_.Cli({"ingest", "--dataset", "x"}).exit_code, 2);
  EXPECT_EQ(server_.Cli({"frobnicate"}).exit_code, 2);
  auto bad =
      server_.Cli({"ingest", "--dataset", "a", "--file", "/nonexistent.csv"});
  EXPECT_EQ(bad.exit_code, 3);
  EXPECT_THAT(bad.err, HasSubstr("cannot open /nonexistent.csv"));
  auto del = server_.Cli({"datasets", "delete", "a"});
  EXPECT_EQ(del.exit_code, 0);
  EXPECT_EQ(server_.Cli({"datasets", "show", "a"}).exit_code, 3);

  auto status = server_.Cli({"status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_THAT(status.out, HasSubstr("SERVING"));

  auto down = RunCommand(
      {Binary("mlpipe"), "--server", "127.0.0.1:1", "datasets", "list"});
  EXPECT_EQ(down.exit_code, 5);
  EXPECT_THAT(down.err, HasSubstr("cannot reach the mlpipe server"));
}

TEST_F(CliTest, APipelineWithATypoIsRefusedBeforeItsFileIsUploaded) {
  // The example pipeline with one misspelt key deep inside a transform.
  std::string yaml = ReadFile(SourcePath("examples/credit/pipeline.yaml"));
  const std::string good = "impute: mode,";
  ASSERT_NE(yaml.find(good), std::string::npos);
  yaml.replace(yaml.find(good), good.size(),
               "impute: {strategy: mode, fill: x},");
  const std::string dir = dir_.path() + "/p";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(SourcePath("examples/credit/credit.csv"),
                             dir + "/credit.csv");
  std::ofstream(dir + "/pipeline.yaml") << yaml;
  auto r = server_.Cli({"run", dir + "/pipeline.yaml"});
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("pipeline.yaml:33: steps.features.transforms[2]"
                               ".impute.fill: unknown key"));
  // Nothing was uploaded.
  auto list = server_.Cli({"--output", "json", "datasets", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(FromJson<v1::ListDatasetsResponse>(list.out).datasets_size(), 0)
      << list.out;
}

// A pipeline file names the files it uploads; one from elsewhere must not
// read /etc/passwd or a file up the tree by naming it, nor through a
// symbolic link beside it.
TEST_F(CliTest, APipelineUploadsOnlyFilesBesideIt) {
  const std::string dir = dir_.path() + "/q";
  std::filesystem::create_directories(dir + "/data");
  std::filesystem::copy_file(SourcePath("examples/credit/credit.csv"),
                             dir + "/data/credit.csv");
  std::filesystem::copy_file(SourcePath("examples/credit/credit.csv"),
                             dir_.path() + "/outside.csv");
  std::filesystem::create_symlink(dir_.path() + "/outside.csv",
                                  dir + "/link.csv");
  auto pipeline = [&](const std::string& file, bool allow = false) {
    std::ofstream(dir + "/pipeline.yaml")
        << "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: p}\n"
           "spec:\n  dataset: credit\n  steps:\n"
           "    - {name: load, type: ingest, file: '"
        << file << "'}\n";
    std::vector<std::string> args = {"run", dir + "/pipeline.yaml", "--watch"};
    if (allow) args.push_back("--allow-outside-files");
    return server_.Cli(args);
  };
  for (const std::string bad : {"../../../../../../etc/passwd", "/etc/passwd",
                                "../outside.csv", "link.csv"}) {
    auto r = pipeline(bad);
    EXPECT_EQ(r.exit_code, 4) << bad << ": " << r.out << r.err;
    EXPECT_THAT(r.err, HasSubstr("steps.load.file: '" + bad +
                                 "' is outside the pipeline's folder"));
  }
  auto list = server_.Cli({"--output", "json", "datasets", "list"});
  EXPECT_EQ(FromJson<v1::ListDatasetsResponse>(list.out).datasets_size(), 0);
  auto inside = pipeline("data/credit.csv");
  EXPECT_EQ(inside.exit_code, 0) << inside.out << inside.err;
  auto allowed = pipeline("../outside.csv", /*allow=*/true);
  EXPECT_EQ(allowed.exit_code, 0) << allowed.out << allowed.err;
}

TEST_F(CliTest, MetricsPassPromtool) {
  ASSERT_EQ(server_
                .Cli({"ingest", "--dataset", "a", "--file",
                      SourcePath("examples/credit/credit.csv")})
                .exit_code,
            0);
  const std::string bad = dir_.path() + "/bad.csv";
  WriteFile(bad, "a,b\n1\n");
  EXPECT_EQ(server_.Cli({"ingest", "--dataset", "b", "--file", bad}).exit_code,
            4);
  // A split, and one whose bad input is found while working (the operation
  // fails; the RPC that started it did not).
  EXPECT_EQ(
      server_
          .Cli({"splits", "create", "--dataset", "a", "--strategy", "shuffled"})
          .exit_code,
      0);
  auto failed = server_.Cli({"splits", "create", "--dataset", "a", "--strategy",
                             "group", "--group-column", "nope"});
  EXPECT_EQ(failed.exit_code, 4);
  EXPECT_THAT(failed.err, HasSubstr("group_column: no column 'nope'"));
  // The example pipeline: prepare, split and train metrics.
  auto run = server_.Cli(
      {"run", SourcePath("examples/credit/pipeline.yaml"), "--watch"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // An evaluation request refused for its threshold.
  auto refused =
      server_.Cli({"eval", "run", "--models", "credit:1", "--threshold", "2"});
  EXPECT_EQ(refused.exit_code, 4) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("threshold: 2 is not in [0, 1]"));
  std::string metrics = HttpGet(server_.metrics_port(), "/metrics");
  // The pipeline's evaluate step: both models above its 0.75 AUC bound.
  EXPECT_THAT(metrics, HasSubstr("mlpipe_evaluate_evaluations_total{outcome="
                                 "\"blessed\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("mlpipe_evaluate_evaluations_total{outcome="
                                 "\"invalid\"} 1"));
  EXPECT_THAT(
      metrics,
      HasSubstr("mlpipe_evaluate_verdicts_total{verdict=\"blessed\"} 2"));
  EXPECT_THAT(metrics, HasSubstr("mlpipe_evaluate_seconds_bucket"));
  EXPECT_THAT(
      metrics,
      HasSubstr("mlpipe_split_splits_created_total{strategy=\"shuffled\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("mlpipe_train_jobs_total{state=\"SUCCEEDED\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("mlpipe_train_trials_total{algorithm=\"gbdt\","
                                 "state=\"SUCCEEDED\"} 2"));
  EXPECT_THAT(
      metrics,
      HasSubstr(
          "mlpipe_train_fit_seconds_bucket{algorithm=\"logistic_regression\""));
  EXPECT_THAT(metrics, HasSubstr("mlpipe_train_jobs_running 0"));
  EXPECT_THAT(
      metrics,
      HasSubstr("mlpipe_operations_ended_total{code=\"INVALID_ARGUMENT\","
                "kind=\"split\",service=\"split\",state=\"failed\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("mlpipe_ingest_rows_total 8908"));
  EXPECT_THAT(
      metrics,
      HasSubstr("mlpipe_ingest_rejections_total{reason=\"invalid_input\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("mlpipe_rpc_requests_total{code=\"INVALID_ARGUMENT\","
                        "method=\"/mlpipe.v1.Ingestion/Ingest\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("mlpipe_rpc_request_duration_seconds_bucket"));
  const std::string file = dir_.path() + "/metrics.txt";
  WriteFile(file, metrics);
  auto r = RunCommand({"/bin/sh", "-c", "promtool check metrics < " + file});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out + r.err, "");
}

TEST_F(CliTest, SigtermShutsDownGracefullyAndDataPersists) {
  ASSERT_EQ(server_
                .Cli({"ingest", "--dataset", "a", "--file",
                      SourcePath("examples/credit/credit.csv")})
                .exit_code,
            0);
  EXPECT_EQ(server_.Stop(), 0);
  EXPECT_THAT(ReadFile(server_.log_file()), HasSubstr("\"msg\":\"stopped\""));
  Standalone again(dir_.path() + "/data");
  auto r = again.Cli({"--output", "json", "datasets", "show", "a"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FromJson<v1::GetDatasetResponse>(r.out).dataset().row_count(),
            4454);
}

TEST(IngestServerTest, SingleServiceBinaryServesServerSideFilesUnderItsRoot) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/imports");
  WriteFile(dir.path() + "/imports/small.csv", "a,b\n1,x\n2,y\n");
  WriteFile(dir.path() + "/secret.csv", "a,b\n1,x\n");
  Standalone ingest(dir.path() + "/data",
                    {"--import_root=" + dir.path() + "/imports"},
                    "mlpipe-ingest");
  auto r =
      ingest.Cli({"ingest", "--dataset", "s", "--file", "server:small.csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ingested 2 rows into 's'"));
  r = ingest.Cli(
      {"ingest", "--dataset", "s", "--file", "server:../secret.csv"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_THAT(r.err, HasSubstr("'..'"));
  EXPECT_EQ(ingest.Stop(), 0);
}

// A server whose replies carry text that is not UTF-8, which the CLI's
// protobuf refuses to parse.
class GarbledIngestion final : public v1::Ingestion::Service {
  grpc::Status Ingest(grpc::ServerContext*,
                      grpc::ServerReader<v1::IngestRequest>* reader,
                      v1::IngestResponse* response) override {
    v1::IngestRequest req;
    while (reader->Read(&req)) {
    }
    response->add_warnings("caf\xe9");
    return grpc::Status::OK;
  }
  grpc::Status GetDataset(grpc::ServerContext*, const v1::GetDatasetRequest*,
                          v1::GetDatasetResponse* response) override {
    response->mutable_dataset()->set_name("caf\xe9");
    return grpc::Status::OK;
  }
};

// The CLI aborted on a gRPC assertion when an upload's reply could not be
// parsed (exit 134); a unary call said "No message returned".
TEST(CliReplyTest, AnUnreadableReplyIsAnErrorNotAnAbort) {
  GarbledIngestion service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"ingest", "--dataset", "d", "--file",
            SourcePath("examples/credit/credit.csv")},
           {"datasets", "show", "d"}}) {
    std::vector<std::string> cmd = {Binary("mlpipe"), "--server", address};
    cmd.insert(cmd.end(), args.begin(), args.end());
    auto r = RunCommand(cmd);
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << r.err << r.out;
    EXPECT_THAT(r.err, HasSubstr("the server's reply could not be read"))
        << args[0];
  }
  server->Shutdown();
}

}  // namespace
}  // namespace mlpipe::testing
