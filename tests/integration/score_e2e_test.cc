// The scoring service in the real standalone process: the example pipeline
// trains, evaluates and deploys; predictions over gRPC (mlpipe.v1.Scoring
// and the Open Inference Protocol) equal the in-process model applied to the
// same raw rows bit for bit; versions switch under load with no failed
// request; a restart loads what was deployed before it reports SERVING; a
// Python client (grpcio, stubs from protoc) calls Predict; the CLI drives
// it all; the metrics pass promtool.
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "common/features/test_data.h"
#include "common/serving/servable.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "mlpipe/v1/orchestrator_service.grpc.pb.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "mlpipe/v1/train_service.grpc.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<grpc::Channel> Connect(const Standalone& s) {
  return grpc::CreateChannel(s.address(), grpc::InsecureChannelCredentials());
}

// The first `n` rows of credit.csv as request rows (no label).
v1::PredictRequest CreditRows(size_t n, const std::string& model = "") {
  const table::Table& t = features::testdata::Credit();
  v1::PredictRequest req;
  req.set_model(model);
  for (size_t r = 0; r < n; ++r) {
    auto& f = *req.add_rows()->mutable_fields();
    for (const auto& c : t.columns) {
      if (c.name == "Status") continue;
      if (!c.IsValid(r)) {
        f[c.name].set_null_value(google::protobuf::NULL_VALUE);
      } else if (c.type == table::ColumnType::kNumeric) {
        f[c.name].set_number_value(c.numbers[r]);
      } else {
        f[c.name].set_string_value(c.strings[r]);
      }
    }
  }
  return req;
}

grpc::Status Predict(const std::shared_ptr<grpc::Channel>& ch,
                     const v1::PredictRequest& req, v1::PredictResponse* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return v1::Scoring::NewStub(ch)->Predict(&ctx, req, out);
}

grpc::Status Deploy(const std::shared_ptr<grpc::Channel>& ch,
                    const std::string& version, double canary = 0) {
  v1::DeployRequest req;
  req.set_model_version(version);
  req.set_traffic_percent(canary);
  req.set_set_by("user:test");
  grpc::ClientContext ctx;
  v1::DeployResponse out;
  return v1::Scoring::NewStub(ch)->Deploy(&ctx, req, &out);
}

std::string RunPipeline(const Standalone& server) {
  auto r = server.Cli({"--output", "json", "run",
                       SourcePath("examples/credit/pipeline.yaml"), "--watch"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  return r.out;
}

class ScoreE2eTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(ScoreE2eTest, PipelineDeploysAndServesTheSameBitsAsTheModel) {
  Standalone server(dir_.path() + "/data");
  v1::Run run;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(RunPipeline(server), &run)
          .ok());
  std::string deployed, best;
  for (const auto& s : run.steps()) {
    if (s.name() == "evaluate")
      best = s.results().fields().at("best_model").string_value();
    if (s.name() == "deploy") {
      ASSERT_EQ(s.state(), v1::StepState::SUCCEEDED) << s.error();
      deployed = s.results().fields().at("model_version").string_value();
      EXPECT_EQ(s.results().fields().at("percent").number_value(), 100);
    }
  }
  ASSERT_FALSE(deployed.empty());
  EXPECT_EQ(deployed, best);
  auto ch = Connect(server);
  // The registry's alias follows.
  {
    grpc::ClientContext ctx;
    v1::GetAliasRequest req;
    req.set_alias("production");
    v1::AliasRecord rec;
    ASSERT_TRUE(v1::Orchestrator::NewStub(ch)->GetAlias(&ctx, req, &rec).ok());
    EXPECT_EQ(rec.model_version(), deployed);
    EXPECT_THAT(rec.set_by(), HasSubstr("/deploy"));
  }
  // In process: the artifact from train, the batch transform, the model.
  v1::ModelArtifact artifact;
  {
    grpc::ClientContext ctx;
    v1::GetModelRequest req;
    req.set_id(deployed);
    ASSERT_TRUE(v1::Training::NewStub(ch)->GetModel(&ctx, req, &artifact).ok());
  }
  auto servable = serving::Servable::Load(artifact);
  ASSERT_TRUE(servable.ok()) << servable.status().ToString();
  const size_t n = 500;
  const table::Table& credit = features::testdata::Credit();
  table::Table head;
  head.num_rows = n;
  for (const auto& c : credit.columns) head.columns.push_back(c.Slice(0, n));
  auto x = (*servable)->transform().ApplyBatch(head);
  ASSERT_TRUE(x.ok());
  const size_t d = (*servable)->num_features();
  std::vector<double> m(n * d);
  for (size_t j = 0; j < d; ++j)
    for (size_t r = 0; r < n; ++r)
      m[r * d + j] =
          x->columns[j].IsValid(r) ? x->columns[j].numbers[r] : std::nan("");
  std::vector<double> want;
  ASSERT_TRUE(
      (*servable)->model().Predict(ml::MatrixView(m.data(), n, d), &want).ok());
  // Over gRPC: the default alias.
  v1::PredictResponse resp;
  ASSERT_TRUE(Predict(ch, CreditRows(n), &resp).ok());
  EXPECT_EQ(resp.model_version(), deployed);
  EXPECT_EQ(resp.alias(), "credit@production");
  ASSERT_EQ(resp.predictions_size(), static_cast<int>(n));
  std::set<std::string> ids;
  for (size_t r = 0; r < n; ++r) {
    double got = resp.predictions(r).value();
    ASSERT_EQ(std::memcmp(&got, &want[r], sizeof(double)), 0)
        << "row " << r << ": " << got << " vs " << want[r];
    ids.insert(resp.predictions(r).prediction_id());
    EXPECT_EQ(resp.predictions(r).label(),
              artifact.classes(want[r] >= 0.5 ? 1 : 0));
  }
  EXPECT_EQ(ids.size(), n);
  // The Open Inference Protocol: raw fields as tensors, the same bits.
  inference::ModelInferRequest infer;
  infer.set_model_name("production");
  infer.set_id("req-1");
  const v1::PredictRequest rows = CreditRows(n);
  for (const auto& c : credit.columns) {
    if (c.name == "Status") continue;
    auto* t = infer.add_inputs();
    t->set_name(c.name);
    t->add_shape(static_cast<int64_t>(n));
    const bool num = c.type == table::ColumnType::kNumeric;
    t->set_datatype(num ? "FP64" : "BYTES");
    for (size_t r = 0; r < n; ++r) {
      if (num) {
        t->mutable_contents()->add_fp64_contents(c.IsValid(r) ? c.numbers[r]
                                                              : std::nan(""));
      } else {
        t->mutable_contents()->add_bytes_contents(c.strings[r]);
      }
    }
  }
  // Missing strings cannot travel as BYTES: drop rows with any.
  inference::ModelInferResponse inferred;
  {
    grpc::ClientContext ctx;
    auto s = inference::GRPCInferenceService::NewStub(ch)->ModelInfer(
        &ctx, infer, &inferred);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_EQ(inferred.id(), "req-1");
  EXPECT_EQ(inferred.model_version(), deployed.substr(deployed.find(':') + 1));
  const inference::ModelInferResponse::InferOutputTensor* value = nullptr;
  for (const auto& o : inferred.outputs())
    if (o.name() == "value") value = &o;
  ASSERT_NE(value, nullptr);
  ASSERT_EQ(value->contents().fp64_contents_size(), static_cast<int>(n));
  int same = 0;
  for (size_t r = 0; r < n; ++r) {
    bool has_missing_string = false;
    for (const auto& c : credit.columns)
      has_missing_string |= c.type != table::ColumnType::kNumeric &&
                            c.name != "Status" && !c.IsValid(r);
    if (has_missing_string) continue;
    double got = value->contents().fp64_contents(r);
    ASSERT_EQ(std::memcmp(&got, &want[r], sizeof(double)), 0) << "row " << r;
    ++same;
  }
  EXPECT_GT(same, 400);
  // Metadata and readiness.
  {
    grpc::ClientContext ctx;
    inference::ModelMetadataRequest req;
    req.set_name("production");
    inference::ModelMetadataResponse meta;
    grpc::Status ms =
        inference::GRPCInferenceService::NewStub(ch)->ModelMetadata(&ctx, req,
                                                                    &meta);
    ASSERT_TRUE(ms.ok()) << ms.error_message();
    EXPECT_EQ(meta.inputs_size(), 13);
    grpc::ClientContext ctx2;
    inference::ModelReadyRequest ready;
    ready.set_name("credit");
    ready.set_version("99");
    inference::ModelReadyResponse rr;
    ASSERT_TRUE(inference::GRPCInferenceService::NewStub(ch)
                    ->ModelReady(&ctx2, ready, &rr)
                    .ok());
    EXPECT_FALSE(rr.ready());
  }
  // Bad input: every bad field named; an unknown model; a bad tensor.
  v1::PredictRequest bad = CreditRows(1);
  (*bad.mutable_rows(0)->mutable_fields())["Age"].set_string_value("old");
  bad.mutable_rows(0)->mutable_fields()->erase("Income");
  (*bad.mutable_rows(0)->mutable_fields())["Colour"].set_string_value("red");
  grpc::Status st = Predict(ch, bad, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("rows[0].Age: expected a number"));
  EXPECT_THAT(st.error_message(), HasSubstr("missing field Income"));
  EXPECT_THAT(st.error_message(), HasSubstr("rows[0].Colour: unknown field"));
  EXPECT_EQ(Predict(ch, CreditRows(1, "credit:77"), &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // A 100 KB model name: NOT_FOUND with the name cut short, not an error too
  // big for gRPC's metadata (RESOURCE_EXHAUSTED).
  st = Predict(ch, CreditRows(1, "credit:" + std::string(100000, '7')), &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
  EXPECT_LT(st.error_message().size(), 1000u);
  EXPECT_THAT(st.error_message(), HasSubstr("bytes cut]"));
  infer.mutable_inputs(0)->set_datatype("FP16");
  {
    grpc::ClientContext ctx;
    auto s = inference::GRPCInferenceService::NewStub(ch)->ModelInfer(
        &ctx, infer, &inferred);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("FP16"));
  }
  // The CLI: predict, deployments, batch scoring to CSV.
  auto cli =
      server.Cli({"predict", "--json",
                  R"({"Seniority": 9, "Home": "rent", "Time": 60, "Age": 30,
           "Marital": "married", "Records": "no", "Job": "freelance",
           "Expenses": 73, "Income": 129, "Assets": 0, "Debt": 0,
           "Amount": 800, "Price": 846})"});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_THAT(cli.out,
              HasSubstr("model " + deployed + " (alias credit@production)"));
  cli = server.Cli({"predict", "--json", R"({"Seniority": "x"})"});
  EXPECT_EQ(cli.exit_code, 4);
  // A file's bad line is named FILE:LINE (counted as editors count, blank
  // lines too), and refused as input (4), before anything is sent.
  const std::string bad_file = dir_.path() + "/bad.jsonl";
  WriteFile(bad_file, "{\"Age\": 30}\n\n{\"Age\": 31}\n[1, 2]\n");
  cli = server.Cli({"predict", "--file", bad_file});
  EXPECT_EQ(cli.exit_code, 4);
  EXPECT_THAT(cli.err, HasSubstr(bad_file + ":4: not a JSON object"));
  cli = server.Cli({"deployments", "list"});
  EXPECT_EQ(cli.exit_code, 0);
  EXPECT_THAT(cli.out, HasSubstr(deployed + " 100%"));
  EXPECT_THAT(cli.out, HasSubstr("READY"));
  const std::string csv = dir_.path() + "/scores.csv";
  cli = server.Cli({"batch-score", "--model", "production", "--dataset",
                    "credit", "--keep", "Status", "--out", csv});
  ASSERT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "Status,label,p_good,p_bad");
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  EXPECT_EQ(lines, 4454);
  // Metrics: promtool-clean, predictions counted by version.
  std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  EXPECT_THAT(metrics,
              HasSubstr("mlpipe_score_predictions_total{model=\"credit\","
                        "outcome=\"ok\",version=\"" +
                        deployed + "\"}"));
  EXPECT_THAT(metrics,
              HasSubstr("mlpipe_score_requests_total{outcome=\"invalid\"} 2"));
  const std::string mfile = dir_.path() + "/metrics.txt";
  std::ofstream(mfile) << metrics;
  auto lint =
      RunCommand({"/bin/sh", "-c", "promtool check metrics < " + mfile});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
}

// 100 version switches while clients send requests: no request fails, and
// every response names exactly one version (all its rows from it).
// kill -9, restart: the deployed version is loaded before the scoring
// service reports SERVING, and the first request after that succeeds.
// credit.csv with an entity key in front: "c0", "c1", ... by row.
std::string LoansCsv() {
  std::ifstream in(SourcePath("examples/credit/credit.csv"));
  std::string line, out;
  for (int row = -1; std::getline(in, line); ++row)
    out += (row < 0 ? std::string("id") : "c" + std::to_string(row)) + "," +
           line + "\n";
  return out;
}

// With --online_store=redis://..., prep copies the latest feature vectors
// to Redis, and a scoring replica of its own (mlpipe-score, its prep
// address leading nowhere) predicts by entity key from Redis alone: the
// same scores as the standalone's own scoring (through prep) and as the raw
// rows. With Redis down, entity keys fail with UNAVAILABLE, counted, while
// raw rows still score; once Redis is back (restarted empty), prep writes
// it whole again and entity keys score again.
TEST_F(ScoreE2eTest, ReplicaPredictsByEntityKeyFromRedisWithoutPrep) {
  RedisServer redis;
  Standalone server(dir_.path() + "/data", {"--online_store=" + redis.url()});
  WriteFile(dir_.path() + "/loans.csv", LoansCsv());
  // The example pipeline by entity key, deployed as `loans`.
  WriteFile(dir_.path() + "/loans.yaml",
            ReadFile(SourcePath("examples/credit/by-entity-key.yaml")));
  auto r = server.Cli(
      {"--output", "json", "run", dir_.path() + "/loans.yaml", "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string a = server.address();
  Standalone replica(
      dir_.path() + "/replica",
      {"--online_store=" + redis.url(), "--online_store_timeout_ms=200",
       "--prep_address=127.0.0.1:1", "--train_address=" + a,
       "--ingest_address=" + a, "--orchestrator_address=" + a,
       "--monitor_address=" + a},
      "mlpipe-score");
  auto to_replica = grpc::CreateChannel(replica.address(),
                                        grpc::InsecureChannelCredentials());
  v1::PredictRequest by_key;
  by_key.set_model("loans");
  for (const char* k : {"c5", "c17", "c4000"}) by_key.add_entity_keys(k);
  v1::PredictResponse from_redis, from_prep, from_rows;
  grpc::Status s;
  for (int i = 0; i < 300; ++i) {  // Until the replica has loaded its routes.
    s = Predict(to_replica, by_key, &from_redis);
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(Predict(Connect(server), by_key, &from_prep).ok());
  v1::PredictRequest rows;
  rows.set_model("loans");
  rows.set_ignore_extra_fields(true);
  for (size_t row : {5, 17, 4000})
    *rows.add_rows() = CreditRows(row + 1).rows(row);
  ASSERT_TRUE(Predict(to_replica, rows, &from_rows).ok());
  ASSERT_EQ(from_redis.predictions_size(), 3);
  EXPECT_EQ(from_redis.model_version(), from_prep.model_version());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(from_redis.predictions(i).value(),
              from_prep.predictions(i).value());
    EXPECT_NEAR(from_redis.predictions(i).value(),
                from_rows.predictions(i).value(), 1e-12);
  }
  // An unknown key is named; the replica never asked prep.
  v1::PredictRequest unknown;
  unknown.set_model("loans");
  unknown.add_entity_keys("nobody");
  s = Predict(to_replica, unknown, &from_redis);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("nobody"));

  redis.Kill();
  s = Predict(to_replica, by_key, &from_redis);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr(redis.url()));
  EXPECT_TRUE(Predict(to_replica, rows, &from_rows).ok());
  std::string metrics = HttpGet(replica.metrics_port(), "/metrics");
  EXPECT_THAT(metrics,
              HasSubstr("mlpipe_online_redis_calls_total{op=\"read\",outcome="
                        "\"unavailable\"}"));
  redis.Restart();
  bool back = false;
  for (int i = 0; i < 300 && !back; ++i) {  // prep's sync loop: every 5 s.
    back = Predict(to_replica, by_key, &from_redis).ok();
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(back);
  EXPECT_EQ(from_redis.predictions(1).value(),
            from_prep.predictions(1).value());
}

TEST_F(ScoreE2eTest, RestartLoadsDeploymentsBeforeReporting_Serving) {
  const std::string data = dir_.path() + "/data";
  std::string version;
  {
    Standalone server(data);
    RunPipeline(server);
    auto ch = Connect(server);
    ASSERT_TRUE(Deploy(ch, "credit:1").ok());
    ASSERT_TRUE(Deploy(ch, "credit:2", 25).ok());
    server.Crash();
  }
  Standalone server(data);
  auto ch = Connect(server);
  auto health = grpc::health::v1::Health::NewStub(ch);
  bool serving = false;
  for (int i = 0; i < 300 && !serving; ++i) {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    req.set_service("mlpipe.v1.Scoring");
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
    serving = resp.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    if (!serving) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(serving);
  v1::PredictResponse resp;
  grpc::Status s = Predict(ch, CreditRows(2), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  grpc::ClientContext ctx;
  v1::ListDeploymentsResponse list;
  ASSERT_TRUE(v1::Scoring::NewStub(ch)->ListDeployments(&ctx, {}, &list).ok());
  EXPECT_TRUE(list.ready());
  ASSERT_EQ(list.routes_size(), 1);
  EXPECT_EQ(list.routes(0).targets_size(), 2);
  EXPECT_EQ(list.versions_size(), 2);
}

constexpr char kPythonClient[] = R"(
import json, sys
sys.path.insert(0, sys.argv[1])
import grpc
from mlpipe.v1 import score_service_pb2, score_service_pb2_grpc
from inference import grpc_predict_v2_pb2, grpc_predict_v2_pb2_grpc
from google.protobuf import json_format
ch = grpc.insecure_channel(sys.argv[2])
stub = score_service_pb2_grpc.ScoringStub(ch)
req = score_service_pb2.PredictRequest(model="production")
req.rows.add().update({"Seniority": 9, "Home": "rent", "Time": 60, "Age": 30,
    "Marital": "married", "Records": "no", "Job": "freelance", "Expenses": 73,
    "Income": 129, "Assets": 0, "Debt": 0, "Amount": 800, "Price": 846})
resp = stub.Predict(req, timeout=30)
kserve = grpc_predict_v2_pb2_grpc.GRPCInferenceServiceStub(ch)
live = kserve.ServerLive(grpc_predict_v2_pb2.ServerLiveRequest(), timeout=10)
try:
    stub.Predict(score_service_pb2.PredictRequest(model="nope"), timeout=10)
    code = "OK"
except grpc.RpcError as e:
    code = e.code().name
print(json.dumps({"response": json_format.MessageToDict(resp),
                  "live": live.live, "bad_code": code}))
)";

TEST_F(ScoreE2eTest, PythonClientCallsPredict) {
  Standalone server(dir_.path() + "/data");
  RunPipeline(server);
  // Stubs for Python from the same .proto files.
  const std::string out = dir_.path() + "/py";
  ASSERT_EQ(RunCommand({"/bin/mkdir", "-p", out}).exit_code, 0);
  std::vector<std::string> protoc = {
      "/usr/bin/protoc",
      "-I",
      SourcePath("proto"),
      "--python_out=" + out,
      "--grpc_python_out=" + out,
      "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"};
  for (const char* f :
       {"mlpipe/v1/score_service.proto", "mlpipe/v1/frame.proto",
        "mlpipe/v1/model.proto", "mlpipe/v1/task.proto",
        "mlpipe/v1/transform.proto", "mlpipe/v1/operation.proto",
        "inference/grpc_predict_v2.proto"})
    protoc.push_back(f);
  auto gen = RunCommand(protoc);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const std::string script = dir_.path() + "/client.py";
  std::ofstream(script) << kPythonClient;
  auto r = RunCommand({"/usr/bin/python3", script, out, server.address()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  google::protobuf::Struct result;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &result).ok())
      << r.out;
  const auto& f = result.fields();
  EXPECT_TRUE(f.at("live").bool_value());
  EXPECT_EQ(f.at("bad_code").string_value(), "INVALID_ARGUMENT");
  const auto& resp = f.at("response").struct_value().fields();
  EXPECT_THAT(resp.at("modelVersion").string_value(), HasSubstr("credit:"));
  const auto& p =
      resp.at("predictions").list_value().values(0).struct_value().fields();
  EXPECT_EQ(p.at("predictionId").string_value().size(), 24u);
  EXPECT_THAT(p.at("label").string_value(), ::testing::AnyOf("good", "bad"));
  EXPECT_EQ(p.at("probabilities").list_value().values_size(), 2);
}

}  // namespace
}  // namespace mlpipe::testing
