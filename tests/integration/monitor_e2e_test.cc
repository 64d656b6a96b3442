// The closed loop in the real standalone process. A pipeline deploys a
// model with a monitoring policy; deploying sets the version's reference
// from its split. Predictions of shifted data drift: a drift alert, its
// drift.detected event, and the pipeline's event trigger trains and deploys
// a new model on the newer data. Then a deliberately weak model is deployed;
// actuals show its accuracy below the policy, and the monitor rolls
// production back to the model before it, recorded in the route history and
// the registry's alias history and the lineage. The CLI reports it all; the
// metrics pass promtool.
#include <atomic>
#include <chrono>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "common/features/test_data.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/events.grpc.pb.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "mlpipe/v1/orchestrator_service.grpc.pb.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

// The pipeline: latest version of `credit`, split, features, one model,
// deployed with a policy; `extra` is appended to the spec.
std::string Pipeline(const std::string& name, const std::string& transforms,
                     const std::string& candidate, const std::string& extra,
                     const std::string& deploy = "") {
  return "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: " + name +
         "}\nspec:\n  dataset: credit\n  label: Status\n"
         "  positive_class: bad\n  steps:\n"
         "    - {name: load, type: ingest}\n"
         "    - {name: split, type: split, after: [load], strategy: "
         "stratified,\n       ratios: {train: 0.7, eval: 0.15, test: 0.15}, "
         "seed: 42}\n"
         "    - name: features\n      type: prepare\n      after: [split]\n"
         "      fit_on: {split: split, part: train}\n      transforms:\n" +
         transforms +
         "    - name: train\n      type: train\n      after: [split, "
         "features]\n      candidates:\n        - " +
         candidate +
         "\n    - {name: deploy, type: deploy, after: [train], alias: "
         "production,\n       monitor: {min_accuracy: 0.65, min_actuals: 100, "
         "rollback: true}" +
         deploy + "}\n" + extra;
}

// Rows `rows` of credit.csv as request rows (no label), Income times
// `income`.
v1::PredictRequest CreditRows(const std::vector<size_t>& rows, double income) {
  const table::Table& t = features::testdata::Credit();
  v1::PredictRequest req;
  req.set_ignore_extra_fields(true);  // The weak model reads one field.
  for (size_t r : rows) {
    auto& f = *req.add_rows()->mutable_fields();
    for (const auto& c : t.columns) {
      if (c.name == "Status") continue;
      if (!c.IsValid(r)) {
        f[c.name].set_null_value(google::protobuf::NULL_VALUE);
      } else if (c.type == table::ColumnType::kNumeric) {
        f[c.name].set_number_value(c.numbers[r] *
                                   (c.name == "Income" ? income : 1.0));
      } else {
        f[c.name].set_string_value(c.strings[r]);
      }
    }
  }
  return req;
}

std::string Label(size_t row) {
  const table::Table& t = features::testdata::Credit();
  return t.columns[t.Find("Status")].strings[row];
}

v1::PredictResponse Predict(const std::shared_ptr<grpc::Channel>& ch,
                            const v1::PredictRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(In(30));
  v1::PredictResponse out;
  auto s = v1::Scoring::NewStub(ch)->Predict(&ctx, req, &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return out;
}

v1::Run ParseRun(const std::string& json) {
  v1::Run run;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &run).ok())
      << json;
  return run;
}

std::string StepResult(const v1::Run& run, const std::string& step,
                       const std::string& key) {
  for (const auto& s : run.steps()) {
    if (s.name() != step) continue;
    auto it = s.results().fields().find(key);
    return it == s.results().fields().end() ? "" : it->second.string_value();
  }
  return "";
}

std::string Primary(const std::shared_ptr<grpc::Channel>& ch) {
  grpc::ClientContext ctx;
  v1::ListDeploymentsResponse resp;
  EXPECT_TRUE(v1::Scoring::NewStub(ch)->ListDeployments(&ctx, {}, &resp).ok());
  for (const auto& r : resp.routes()) {
    if (r.alias() != "credit@production") continue;
    std::string best;
    double share = -1;
    for (const auto& t : r.targets()) {
      if (t.percent() > share) {
        share = t.percent();
        best = t.model_version();
      }
    }
    return best;
  }
  return "";
}

// Polls `ready` every 200 ms for up to `seconds`.
template <typename F>
bool WaitFor(F ready, int seconds) {
  for (int i = 0; i < seconds * 5; ++i) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return ready();
}

// The topics of the monitor's outbox so far.
std::set<std::string> MonitorTopics(const std::shared_ptr<grpc::Channel>& ch) {
  grpc::ClientContext ctx;
  ctx.set_deadline(In(10));
  v1::SubscribeRequest req;
  req.set_source("monitor");
  req.set_from_sequence(1);
  auto reader = v1::Events::NewStub(ch)->Subscribe(&ctx, req);
  std::set<std::string> topics;
  for (v1::Event e; reader->Read(&e);) topics.insert(e.topic());
  return topics;
}

// The metrics pass promtool.
void ExpectValidMetrics(const std::string& metrics, const std::string& dir) {
  const std::string file = dir + "/metrics.txt";
  WriteFile(file, metrics);
  auto lint = RunCommand({"/bin/sh", "-c", "promtool check metrics < " + file});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
}

// Every field of credit.csv, imputed, scaled, one-hot.
constexpr char kTransforms[] =
    "        - {columns: [Income, Assets, Debt, Seniority, Time, Age, "
    "Expenses, Amount, Price], impute: median, scale: standard}\n"
    "        - {columns: [Home, Marital, Job, Records], impute: mode, "
    "one_hot: {max_categories: 20}}\n";

class MonitorE2eTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

TEST_F(MonitorE2eTest, DriftRetrainsAndAWorseModelIsRolledBack) {
  Standalone server(dir_.path() + "/data", {"--monitor_window_rows=200"});
  auto ch =
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto monitor = v1::Monitor::NewStub(ch);
  const std::string loop = dir_.path() + "/loop.yaml";
  WriteFile(loop, Pipeline("credit-loop", kTransforms,
                           "{name: gbdt, algorithm: gbdt, params: {max_depth: "
                           "3, rounds: 60, eta: 0.1}}",
                           "  triggers:\n    - {event: {topic: drift.detected, "
                           "filter: {model: credit}}}\n"));
  ASSERT_EQ(server
                .Cli({"ingest", "--dataset", "credit", "--file",
                      SourcePath("examples/credit/credit.csv")})
                .exit_code,
            0);
  auto created = server.Cli({"schedules", "create", loop});
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  EXPECT_THAT(created.out, HasSubstr("drift.detected"));

  // 1. Deployed with a policy; the reference follows from its split.
  auto first = server.Cli({"--output", "json", "run", loop, "--watch"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  const std::string v1 =
      StepResult(ParseRun(first.out), "deploy", "model_version");
  ASSERT_FALSE(v1.empty());
  v1::MonitorReference reference;
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext ctx;
        v1::GetReferenceRequest req;
        req.set_model_version(v1);
        return monitor->GetReference(&ctx, req, &reference).ok();
      },
      60));
  EXPECT_EQ(reference.label(), "Status");
  // The split's training part (70% of 4,454 rows).
  EXPECT_NEAR(static_cast<double>(reference.profile().rows()), 0.7 * 4454, 3);
  EXPECT_EQ(reference.task(), v1::BINARY);
  std::set<std::string> fields;
  for (const auto& f : reference.profile().fields()) fields.insert(f.name());
  EXPECT_TRUE(fields.contains("Income"));
  EXPECT_TRUE(fields.contains("Status"));      // The training labels.
  EXPECT_TRUE(fields.contains("prediction"));  // On held-out rows.
  {
    grpc::ClientContext ctx;
    v1::GetPolicyRequest req;
    req.set_model_version(v1);
    v1::MonitorPolicy policy;
    ASSERT_TRUE(monitor->GetPolicy(&ctx, req, &policy).ok());
    EXPECT_EQ(policy.min_accuracy(), 0.65);
    EXPECT_TRUE(policy.rollback());
    EXPECT_EQ(policy.alias(), "production");
  }

  // 2. Newer data where incomes tripled is ingested, and predictions of it
  // come in: the first full window drifts.
  {
    std::ifstream in(SourcePath("examples/credit/credit.csv"));
    std::ostringstream out;
    std::string line;
    std::getline(in, line);
    out << line << "\n";
    while (std::getline(in, line)) {
      std::vector<std::string> cells;
      std::stringstream ss(line);
      for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
      char* end = nullptr;
      double income = std::strtod(cells[9].c_str(), &end);
      if (end != cells[9].c_str()) cells[9] = std::to_string(income * 3);
      for (size_t i = 0; i < cells.size(); ++i)
        out << (i ? "," : "") << cells[i];
      out << "\n";
    }
    WriteFile(dir_.path() + "/newer.csv", out.str());
  }
  ASSERT_EQ(server
                .Cli({"ingest", "--dataset", "credit", "--file",
                      dir_.path() + "/newer.csv"})
                .exit_code,
            0);
  for (size_t b = 0; b < 3; ++b) {
    std::vector<size_t> rows;
    for (size_t r = 0; r < 100; ++r) rows.push_back(1000 + b * 100 + r);
    auto resp = Predict(ch, CreditRows(rows, 3.0));
    EXPECT_EQ(resp.model_version(), v1);
  }
  v1::ListAlertsResponse alerts;
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext ctx;
        v1::ListAlertsRequest req;
        req.set_kind("drift");
        return monitor->ListAlerts(&ctx, req, &alerts).ok() &&
               alerts.alerts_size() > 0;
      },
      30));
  EXPECT_EQ(alerts.alerts(0).model_version(), v1);
  EXPECT_THAT(alerts.alerts(0).fields(), ::testing::Contains("Income"));

  // 3. The trigger runs the pipeline on the newer data: a new model serves.
  v1::Run retrain;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto r = server.Cli(
            {"--output", "json", "runs", "list", "--pipeline", "credit-loop"});
        v1::ListRunsResponse runs;
        if (r.exit_code != 0 ||
            !google::protobuf::util::JsonStringToMessage(r.out, &runs).ok())
          return false;
        for (const auto& run : runs.runs()) {
          if (run.trigger().starts_with("event:drift.detected#") &&
              (run.state() == v1::Run::SUCCEEDED ||
               run.state() == v1::Run::FAILED)) {
            retrain = run;
            return true;
          }
        }
        return false;
      },
      180));
  ASSERT_EQ(retrain.state(), v1::Run::SUCCEEDED) << retrain.DebugString();
  const std::string v2 = StepResult(retrain, "deploy", "model_version");
  ASSERT_FALSE(v2.empty());
  EXPECT_NE(v2, v1);
  EXPECT_EQ(Primary(ch), v2);

  // 4. A deliberately weak model (marital status alone) takes production.
  const std::string weak = dir_.path() + "/weak.yaml";
  WriteFile(weak,
            Pipeline("credit-weak",
                     "        - {columns: [Marital], impute: mode, one_hot: "
                     "{max_categories: 20}}\n",
                     "{name: logreg, algorithm: logistic_regression}", "",
                     // It reads one field: a schema change, on purpose.
                     ", force_schema_change: true"));
  auto third = server.Cli({"--output", "json", "run", weak, "--watch"});
  ASSERT_EQ(third.exit_code, 0) << third.out << third.err;
  const std::string v3 =
      StepResult(ParseRun(third.out), "deploy", "model_version");
  ASSERT_FALSE(v3.empty());
  EXPECT_EQ(Primary(ch), v3);
  // Its predictions for as many defaults as repaid loans, and what became
  // of them: the actuals, through the CLI.
  std::vector<size_t> rows;
  {
    const table::Table& t = features::testdata::Credit();
    size_t bad = 0, good = 0;
    for (size_t r = 0; r < t.num_rows && rows.size() < 150; ++r) {
      const bool is_bad = Label(r) == "bad";
      if (is_bad ? bad++ < 75 : good++ < 75) rows.push_back(r);
    }
  }
  auto answered = Predict(ch, CreditRows(rows, 1.0));
  ASSERT_EQ(answered.predictions_size(), 150);
  EXPECT_EQ(answered.model_version(), v3);
  std::string csv = "prediction_id,actual\n";
  int right = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& p = answered.predictions(static_cast<int>(i));
    csv += p.prediction_id() + "," + Label(rows[i]) + "\n";
    right += p.label() == Label(rows[i]);
  }
  ASSERT_LT(right / 150.0, 0.65) << "the weak model is not weak";
  // The logged predictions reach the monitor after the logger's flush.
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext ctx;
        v1::GetReportRequest req;
        req.set_model_version(v3);
        v1::MonitorReport r;
        return monitor->GetReport(&ctx, req, &r).ok() && r.predictions() >= 150;
      },
      30));
  WriteFile(dir_.path() + "/actuals.csv", csv);
  auto sent = server.Cli({"actuals", "send", dir_.path() + "/actuals.csv"});
  ASSERT_EQ(sent.exit_code, 0) << sent.out << sent.err;
  EXPECT_THAT(sent.out, HasSubstr("recorded 150, duplicates 0, unmatched 0"));

  // 5. Rolled back to the retrained model, and recorded as such.
  ASSERT_TRUE(WaitFor([&] { return Primary(ch) == v2; }, 60));
  v1::Alert performance;
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext ctx;
        v1::ListAlertsRequest req;
        req.set_kind("performance");
        v1::ListAlertsResponse resp;
        if (!monitor->ListAlerts(&ctx, req, &resp).ok() ||
            resp.alerts_size() == 0)
          return false;
        performance = resp.alerts(0);
        return performance.action().starts_with("rolled back");
      },
      30));
  EXPECT_EQ(performance.model_version(), v3);
  EXPECT_EQ(performance.metric(), "accuracy");
  EXPECT_NEAR(performance.value(), right / 150.0, 1e-9);
  EXPECT_THAT(performance.action(), HasSubstr(v2));
  {
    grpc::ClientContext ctx;
    v1::AliasHistoryRequest req;
    req.set_alias("production");
    v1::AliasHistoryResponse history;
    ASSERT_TRUE(
        v1::Orchestrator::NewStub(ch)->AliasHistory(&ctx, req, &history).ok());
    ASSERT_EQ(history.records_size(), 4);   // v1, v2, v3, back to v2.
    const auto& last = history.records(3);  // Oldest first.
    EXPECT_EQ(last.model_version(), v2);
    EXPECT_EQ(last.set_by(),
              "monitor:alert-" + std::to_string(performance.id()));
  }
  {
    grpc::ClientContext ctx;
    v1::RouteHistoryRequest req;
    req.set_alias("production");
    v1::RouteHistoryResponse history;
    ASSERT_TRUE(
        v1::Scoring::NewStub(ch)->RouteHistory(&ctx, req, &history).ok());
    EXPECT_THAT(history.routes(0).updated_by(), HasSubstr("monitor:alert-"));
  }
  // In the lineage too: downstream of the model it went back to.
  {
    grpc::ClientContext ctx;
    v1::GetLineageRequest req;
    req.set_id("model:" + v2);
    v1::GetLineageResponse lineage;
    ASSERT_TRUE(
        v1::Orchestrator::NewStub(ch)->GetLineage(&ctx, req, &lineage).ok());
    bool found = false;
    for (const auto& n : lineage.nodes()) {
      if (n.type() == "set_alias" &&
          n.properties().at("set_by") ==
              "monitor:alert-" + std::to_string(performance.id())) {
        found = true;
        EXPECT_EQ(n.properties().at("alias"), "credit@production");
      }
    }
    EXPECT_TRUE(found) << lineage.DebugString();
  }
  // Both findings are events of the monitor's outbox.
  {
    const auto topics = MonitorTopics(ch);
    EXPECT_TRUE(topics.contains("drift.detected"));
    EXPECT_TRUE(topics.contains("performance.degraded"));
  }

  // The CLI: the report with histograms, the alerts.
  auto report = server.Cli(
      {"monitor", "report", v1, "--html", dir_.path() + "/report.html"});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(report.out, HasSubstr("Income"));
  EXPECT_THAT(report.out, HasSubstr("YES"));
  std::string html = ReadFile(dir_.path() + "/report.html");
  EXPECT_THAT(html, HasSubstr("<svg"));
  EXPECT_THAT(html, HasSubstr("Income"));
  auto listed = server.Cli({"alerts", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr("performance"));
  EXPECT_THAT(listed.out, HasSubstr("rolled back"));
  auto unknown = server.Cli({"monitor", "report", "nope"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.out << unknown.err;

  // The gauges alert rules fire on, in valid exposition format.
  std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("mlpipe_monitor_drift_score{"));
  EXPECT_THAT(metrics, HasSubstr("mlpipe_monitor_performance{"));
  EXPECT_THAT(metrics,
              HasSubstr("mlpipe_monitor_rollbacks_total{outcome=\"done\"} 1"));
  ExpectValidMetrics(metrics, dir_.path());
}

// Progressive delivery end to end: a retraining pipeline's deploy step
// carries a rollout plan. Its first run has nothing to compare with and
// takes the alias; the retrained model's run starts a canary at 20%.
// Traffic flows with its actuals, and the monitor's analysis advances the
// canary step by step to all traffic by itself, recorded in the route
// history, the events, the CLI and the metrics.
TEST_F(MonitorE2eTest, ARetrainedModelIsRolledOutToAllTrafficByEvidence) {
  Standalone server(dir_.path() + "/data");
  auto ch =
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto monitor = v1::Monitor::NewStub(ch);
  // Latency and errors get wide tolerances: this machine's jitter is not
  // what the test is about.
  const std::string canary =
      ", canary: {steps: [20, 50, 100], analysis: {metric: auc, "
      "max_regression: 0.1, min_actuals: 1000, interval: 2s, "
      "max_latency_p99_ratio: 5, max_error_rate_delta: 0.05}}";
  auto pipeline = [&](int rounds) {
    const std::string file = dir_.path() + "/retrain.yaml";
    WriteFile(file, Pipeline("credit-retrain", kTransforms,
                             "{name: gbdt, algorithm: gbdt, params: "
                             "{max_depth: 3, eta: 0.1, rounds: " +
                                 std::to_string(rounds) + "}}",
                             "", canary));
    return file;
  };
  ASSERT_EQ(server
                .Cli({"ingest", "--dataset", "credit", "--file",
                      SourcePath("examples/credit/credit.csv")})
                .exit_code,
            0);
  const auto began = std::chrono::steady_clock::now();
  auto first = server.Cli({"--output", "json", "run", pipeline(60), "--watch"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  const std::string v1 =
      StepResult(ParseRun(first.out), "deploy", "model_version");
  EXPECT_EQ(StepResult(ParseRun(first.out), "deploy", "rollout"), "promoted");
  ASSERT_EQ(Primary(ch), v1);

  // Retrained: a new model, rolled out as a canary at 20%.
  auto second =
      server.Cli({"--output", "json", "run", pipeline(80), "--watch"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  const std::string v2 =
      StepResult(ParseRun(second.out), "deploy", "model_version");
  ASSERT_NE(v2, v1);
  EXPECT_EQ(StepResult(ParseRun(second.out), "deploy", "rollout"), "running");
  EXPECT_EQ(Primary(ch), v1);

  std::cerr << "two runs took "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             began)
                   .count()
            << " s\n";
  // Traffic, one row a request, and its actuals once logged.
  const table::Table& t = features::testdata::Credit();
  std::vector<std::pair<v1::Actual, std::chrono::steady_clock::time_point>>
      waiting;
  v1::Rollout rollout;
  auto state = [&] {
    grpc::ClientContext ctx;
    v1::RolloutRequest req;
    req.set_alias("credit@production");
    EXPECT_TRUE(monitor->GetRollout(&ctx, req, &rollout).ok());
    return rollout.state();
  };
  std::set<int> shares;
  const auto until = std::chrono::steady_clock::now() + std::chrono::minutes(4);
  std::atomic<size_t> requests{0}, canary_answers{0};
  while (state() == v1::Rollout::RUNNING &&
         std::chrono::steady_clock::now() < until) {
    shares.insert(rollout.share());
    // 4 clients, 250 requests each.
    std::vector<std::thread> clients;
    std::vector<std::vector<v1::Actual>> sent(4);
    for (int c = 0; c < 4; ++c) {
      clients.emplace_back([&, c] {
        for (int i = 0; i < 250; ++i) {
          const size_t row = (requests++ * 7919) % t.num_rows;
          auto resp = Predict(ch, CreditRows({row}, 1.0));
          if (resp.predictions_size() != 1) continue;
          canary_answers += resp.model_version() == v2;
          v1::Actual a;
          a.set_prediction_id(resp.predictions(0).prediction_id());
          a.mutable_value()->set_string_value(Label(row));
          sent[c].push_back(std::move(a));
        }
      });
    }
    for (auto& c : clients) c.join();
    for (auto& batch : sent)
      for (auto& a : batch)
        waiting.emplace_back(std::move(a), std::chrono::steady_clock::now());
    // The prediction log reaches the monitor within a second or so.
    v1::RecordActualsRequest req;
    const auto ripe =
        std::chrono::steady_clock::now() - std::chrono::milliseconds(1500);
    size_t n = 0;
    while (n < waiting.size() && waiting[n].second < ripe)
      *req.add_actuals() = waiting[n++].first;
    waiting.erase(waiting.begin(), waiting.begin() + n);
    if (n == 0) continue;
    grpc::ClientContext ctx;
    v1::ActualsResult result;
    ASSERT_TRUE(monitor->RecordActuals(&ctx, req, &result).ok());
  }
  ASSERT_EQ(rollout.state(), v1::Rollout::PROMOTED) << rollout.DebugString();
  std::cerr << "traffic until promoted: " << requests << " requests, "
            << rollout.checks_size() << " checks\n";
  EXPECT_TRUE(shares.contains(20));
  EXPECT_GT(canary_answers.load(), 0u);
  EXPECT_GE(rollout.canary_evidence().performance().count(), 1000u);
  EXPECT_EQ(rollout.reason(), "every criterion within bounds");
  ASSERT_TRUE(WaitFor([&] { return Primary(ch) == v2; }, 30));
  {
    grpc::ClientContext ctx;
    v1::RouteHistoryRequest req;
    req.set_alias("credit@production");
    v1::RouteHistoryResponse history;
    ASSERT_TRUE(
        v1::Scoring::NewStub(ch)->RouteHistory(&ctx, req, &history).ok());
    const v1::Route& now = history.routes(0);
    ASSERT_EQ(now.targets_size(), 1);
    EXPECT_EQ(now.targets(0).model_version(), v2);
    EXPECT_EQ(now.fallback(), v1);  // The old primary.
    // The monitor, on behalf of the run that started the rollout.
    EXPECT_THAT(now.updated_by(),
                ::testing::StartsWith("monitor:rollout/run:"));
    EXPECT_THAT(now.updated_by(), ::testing::EndsWith("/deploy"));
    EXPECT_THAT(now.reason(), HasSubstr("rollout of " + v2 + ": promoted"));
    // Each step on the route in turn: 20%, 50%, all; then its promotion
    // (the same split, recorded as such).
    std::vector<double> steps;
    for (auto r = history.routes().rbegin(); r != history.routes().rend();
         ++r) {
      for (const auto& target : r->targets())
        if (target.model_version() == v2) steps.push_back(target.percent());
    }
    EXPECT_THAT(steps, ::testing::ElementsAre(20, 50, 100, 100));
  }
  // The lineage: the promotion, downstream of the model, with why.
  {
    grpc::ClientContext ctx;
    v1::GetLineageRequest req;
    req.set_id("model:" + v2);
    v1::GetLineageResponse lineage;
    ASSERT_TRUE(
        v1::Orchestrator::NewStub(ch)->GetLineage(&ctx, req, &lineage).ok());
    int rollout_changes = 0;
    for (const auto& n : lineage.nodes()) {
      if (n.type() != "set_alias" ||
          !n.properties().at("set_by").starts_with("monitor:rollout/"))
        continue;
      ++rollout_changes;
      EXPECT_THAT(n.properties().at("reason"), HasSubstr("rollout of " + v2));
    }
    EXPECT_GE(rollout_changes, 1) << lineage.DebugString();
  }
  {
    const auto topics = MonitorTopics(ch);
    EXPECT_TRUE(topics.contains("rollout.started"));
    EXPECT_TRUE(topics.contains("rollout.advanced"));
    EXPECT_TRUE(topics.contains("rollout.promoted"));
  }
  auto status = server.Cli({"rollout", "status", "production", "--html",
                            dir_.path() + "/rollout.html"});
  ASSERT_EQ(status.exit_code, 0) << status.out << status.err;
  EXPECT_THAT(status.out, HasSubstr("promoted"));
  EXPECT_THAT(status.out, HasSubstr("auc"));
  EXPECT_THAT(ReadFile(dir_.path() + "/rollout.html"), HasSubstr("<svg"));
  auto json =
      server.Cli({"--output", "json", "rollout", "status", "production"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_THAT(json.out, HasSubstr("\"canary\": \"" + v2 + "\""));
  EXPECT_THAT(json.out, HasSubstr("\"state\": \"PROMOTED\""));
  EXPECT_THAT(json.out, HasSubstr("\"checks\": ["));
  EXPECT_EQ(server.Cli({"rollout", "pause", "production"}).exit_code, 4)
      << "a promoted rollout cannot be paused";
  std::string metrics = HttpGet(server.metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("mlpipe_monitor_rollout_state{alias=\"credit@"
                                 "production\",state=\"promoted\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("mlpipe_monitor_rollout_actions_total{action="
                                 "\"promote\"} 1"));
  ExpectValidMetrics(metrics, dir_.path());

  // By hand: the old model as a canary at 50%, the CLI back once the route
  // has it; an operator's rollback then takes the route from the rollout,
  // which stops rather than undo it.
  auto by_hand = server.Cli({"deploy", v1, "--canary", "50,100"});
  ASSERT_EQ(by_hand.exit_code, 0) << by_hand.out << by_hand.err;
  EXPECT_THAT(by_hand.out, HasSubstr("running, canary at 50%"));
  auto rolled = server.Cli({"rollback", "--reason", "by hand"});
  ASSERT_EQ(rolled.exit_code, 0) << rolled.out << rolled.err;
  ASSERT_TRUE(WaitFor([&] { return state() == v1::Rollout::ABORTED; }, 30))
      << rollout.DebugString();
  EXPECT_THAT(rollout.reason(),
              HasSubstr("the route was changed outside the rollout"));
  EXPECT_EQ(Primary(ch), v2);
}

}  // namespace
}  // namespace mlpipe::testing
