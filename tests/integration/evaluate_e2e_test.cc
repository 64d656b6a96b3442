// The evaluation service in the real standalone process, over gRPC: the
// example pipeline trains two models, then the GBDT is evaluated against the
// logistic regression as the baseline on the split's test part, sliced by
// the raw values of Home (not a feature: the dataset's column).
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/evaluate_service.grpc.pb.h"
#include "mlpipe/v1/operations_service.grpc.pb.h"
#include "mlpipe/v1/orchestrator_service.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;

double Metric(const v1::ModelEvaluation& m, const std::string& name) {
  for (const auto& v : m.metrics().metrics()) {
    if (v.name() == name) return v.value();
  }
  return NAN;
}

// Starts an evaluation and waits for its operation to end.
v1::Operation EvaluateAndWait(const std::string& address,
                              const v1::EvaluateRequest& req,
                              grpc::Status* started) {
  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = v1::Evaluator::NewStub(channel);
  auto ops = v1::Operations::NewStub(channel);
  v1::Operation op;
  {
    grpc::ClientContext ctx;
    *started = stub->Evaluate(&ctx, req, &op);
    if (!started->ok()) return op;
  }
  for (int i = 0; i < 1200 && op.state() != v1::Operation::SUCCEEDED &&
                  op.state() != v1::Operation::FAILED;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    grpc::ClientContext ctx;
    v1::GetOperationRequest get;
    get.set_id(op.id());
    EXPECT_TRUE(ops->GetOperation(&ctx, get, &op).ok());
  }
  return op;
}

TEST(EvaluateE2eTest, CandidateAgainstBaselineOverGrpc) {
  TempDir dir;
  Standalone server(dir.path() + "/data");
  auto r = server.Cli({"--output", "json", "run",
                       SourcePath("examples/credit/pipeline.yaml"), "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // The pipeline's own evaluate step: no baseline yet, so the bound decides.
  v1::Run pipeline;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(r.out, &pipeline).ok());
  bool evaluated = false;
  for (const auto& s : pipeline.steps()) {
    if (s.name() != "evaluate") continue;
    evaluated = true;
    EXPECT_EQ(s.state(), v1::StepState::SUCCEEDED) << s.error();
    const auto& res = s.results().fields();
    EXPECT_EQ(res.at("blessed").bool_value(),
              res.at("auc").number_value() >= 0.75);
    EXPECT_THAT(res.at("best_model").string_value(),
                ::testing::StartsWith("credit:"));
    EXPECT_EQ(res.at("baseline").string_value(), "");
  }
  EXPECT_TRUE(evaluated) << r.out;

  v1::EvaluateRequest req;
  req.add_models("credit:2");  // gbdt
  req.set_baseline_model("credit:1");
  req.set_baseline_alias("production");
  req.add_slices()->add_columns("Home");
  req.set_bootstrap_resamples(100);
  grpc::Status started;
  v1::Operation op = EvaluateAndWait(server.address(), req, &started);
  ASSERT_TRUE(started.ok()) << started.error_message();
  ASSERT_EQ(op.state(), v1::Operation::SUCCEEDED) << op.error().message();
  EXPECT_THAT(op.id(), ::testing::StartsWith("evaluate-op-"));

  auto channel =
      grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  auto stub = v1::Evaluator::NewStub(channel);
  v1::Evaluation e;
  {
    grpc::ClientContext ctx;
    v1::GetEvaluationRequest get;
    get.set_id(op.id());
    ASSERT_TRUE(stub->GetEvaluation(&ctx, get, &e).ok());
  }
  EXPECT_EQ(e.part(), "test");
  ASSERT_EQ(e.candidates_size(), 1);
  EXPECT_EQ(e.candidates(0).metrics().rows(), 668);
  EXPECT_EQ(e.baseline().model(), "credit:1");
  EXPECT_GT(Metric(e.candidates(0), "auc"), 0.75);
  const auto& ci = e.candidates(0).metrics().interval();
  EXPECT_LT(ci.low(), Metric(e.candidates(0), "auc"));
  EXPECT_GT(ci.high(), Metric(e.candidates(0), "auc"));
  // The verdict follows the numbers: blessed iff not worse than the baseline.
  EXPECT_EQ(e.candidates(0).verdict().blessed(),
            Metric(e.candidates(0), "auc") >= Metric(e.baseline(), "auc"));
  EXPECT_EQ(e.best_model(), "credit:2");
  int64_t sliced = 0;
  for (const auto& s : e.candidates(0).slices()) {
    EXPECT_EQ(s.key(0).column(), "Home");
    sliced += s.rows();
  }
  EXPECT_EQ(sliced, 668);
  EXPECT_GE(e.candidates(0).slices_size(), 3);
  {
    grpc::ClientContext ctx;
    v1::ListEvaluationsRequest list;
    list.set_model("credit:1");
    v1::ListEvaluationsResponse out;
    ASSERT_TRUE(stub->ListEvaluations(&ctx, list, &out).ok());
    // The pipeline's evaluation, then this one (newest first).
    ASSERT_EQ(out.evaluations_size(), 2);
    EXPECT_EQ(out.evaluations(0).id(), op.id());
  }
  // The CLI shows it, lists it and writes the HTML report.
  auto show = server.Cli({"eval", "show", op.id()});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("credit:1 (alias production)"));
  EXPECT_THAT(show.out, HasSubstr("credit:2 (gbdt): "));
  EXPECT_THAT(show.out, HasSubstr("Home="));
  EXPECT_THAT(show.out, HasSubstr("widest gap"));
  auto listed = server.Cli({"eval", "list", "--model", "credit:2"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, HasSubstr(op.id()));
  auto by_name = server.Cli({"eval", "list", "--model", "credit"});
  ASSERT_EQ(by_name.exit_code, 0) << by_name.err;
  EXPECT_THAT(by_name.out, HasSubstr(op.id()));
  const std::string html = dir.path() + "/report.html";
  auto report = server.Cli({"eval", "report", op.id(), "--html", html});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(ReadFile(html), HasSubstr("<svg id=\"roc-0\""));
  EXPECT_EQ(server.Cli({"eval", "show", "evaluate-op-0"}).exit_code, 3);
  EXPECT_EQ(server.Cli({"eval", "report", op.id()}).exit_code, 2);

  // eval run: the baseline is what the alias points to; the exit code says
  // whether the best candidate is blessed.
  ASSERT_EQ(server.Cli({"aliases", "set", "production", "credit:1"}).exit_code,
            0);
  auto run = server.Cli({"eval", "run", "--models", "credit:2,credit:1",
                         "--alias", "production", "--slices", "Home;Home,Job"});
  EXPECT_EQ(run.exit_code, e.candidates(0).verdict().blessed() ? 0 : 6)
      << run.out << run.err;
  EXPECT_THAT(run.out, HasSubstr("credit:1 (alias credit@production)"));
  EXPECT_THAT(run.out, HasSubstr("Home=owner, Job="));
  // No such alias yet: judged on the bounds alone, unless one is required.
  auto first =
      server.Cli({"eval", "run", "--models", "credit:2", "--alias", "staging"});
  EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_THAT(first.out, HasSubstr("no baseline yet"));
  auto required = server.Cli({"eval", "run", "--models", "credit:2", "--alias",
                              "staging", "--require-baseline"});
  EXPECT_EQ(required.exit_code, 6);
  // Could not evaluate: the exit code says why (4 bad input, 3 not found),
  // as every command's does; 6 is only the verdict.
  EXPECT_EQ(
      server.Cli({"eval", "run", "--models", "credit:2", "--metric", "rmse"})
          .exit_code,
      4);
  EXPECT_EQ(server.Cli({"eval", "run", "--models", "nope:1"}).exit_code, 3);

  // A bad request is refused at once, naming the field; an unknown model
  // fails the operation naming it.
  v1::EvaluateRequest bad;
  bad.add_models("credit:2");
  bad.set_threshold_criterion("median");
  EvaluateAndWait(server.address(), bad, &started);
  EXPECT_EQ(started.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(started.error_message(), HasSubstr("threshold_criterion"));
  bad.clear_threshold_criterion();
  bad.set_models(0, "credit:9");
  op = EvaluateAndWait(server.address(), bad, &started);
  ASSERT_TRUE(started.ok());
  EXPECT_EQ(op.state(), v1::Operation::FAILED);
  EXPECT_THAT(op.error().message(), HasSubstr("models[0]: "));
  EXPECT_THAT(op.error().message(), HasSubstr("credit:9"));
}

// A second pipeline (another data set, so another model name) that copies
// `baseline: production` compares against its own model's production alias,
// not the first pipeline's model; each model's alias serves its own
// requests; `aliases set` on a served model serves the version.
TEST(EvaluateE2eTest, AliasesBelongToTheirModel) {
  TempDir dir;
  Standalone server(dir.path() + "/data");
  std::string pipeline = ReadFile(SourcePath("examples/credit/pipeline.yaml"));
  // Its file beside it (mlpipe run uploads only those).
  WriteFile(dir.path() + "/credit.csv",
            ReadFile(SourcePath("examples/credit/credit.csv")));
  WriteFile(dir.path() + "/a.yaml", pipeline);
  // The second: the first 3,000 rows as data set loans.
  std::string rows = ReadFile(SourcePath("examples/credit/credit.csv"));
  size_t end = 0;
  for (int line = 0; line <= 3000; ++line) end = rows.find('\n', end) + 1;
  WriteFile(dir.path() + "/loans.csv", rows.substr(0, end));
  pipeline.replace(pipeline.find("file: credit.csv"),
                   std::string("file: credit.csv").size(), "file: loans.csv");
  pipeline.replace(pipeline.find("dataset: credit"),
                   std::string("dataset: credit").size(), "dataset: loans");
  pipeline.replace(pipeline.find("name: credit-risk"),
                   std::string("name: credit-risk").size(), "name: loans");
  WriteFile(dir.path() + "/b.yaml", pipeline);
  for (const char* file : {"/a.yaml", "/b.yaml"}) {
    auto r =
        server.Cli({"--output", "json", "run", dir.path() + file, "--watch"});
    ASSERT_EQ(r.exit_code, 0) << file << r.out << r.err;
    v1::Run run;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &run).ok());
    for (const auto& s : run.steps()) {
      EXPECT_EQ(s.state(), v1::StepState::SUCCEEDED) << s.name() << s.error();
      // No baseline of its own model yet: judged on the bounds.
      if (s.name() == "evaluate")
        EXPECT_EQ(s.results().fields().at("baseline").string_value(), "");
    }
  }
  auto aliases = server.Cli({"aliases", "list"});
  EXPECT_THAT(aliases.out, HasSubstr("credit@production"));
  EXPECT_THAT(aliases.out, HasSubstr("loans@production"));
  const std::string row = R"({"Seniority": 9, "Home": "rent", "Time": 60,
      "Age": 30, "Marital": "married", "Records": "no", "Job": "freelance",
      "Expenses": 73, "Income": 129, "Assets": 0, "Debt": 0, "Amount": 800,
      "Price": 846})";
  auto credit = server.Cli({"predict", "--model", "credit", "--json", row});
  EXPECT_THAT(credit.out, HasSubstr("(alias credit@production)")) << credit.err;
  auto loans = server.Cli({"predict", "--model", "loans", "--json", row});
  EXPECT_THAT(loans.out, HasSubstr("model loans:")) << loans.err;
  // The bare alias is now ambiguous, and says so.
  auto bare = server.Cli({"predict", "--model", "production", "--json", row});
  EXPECT_NE(bare.exit_code, 0);
  EXPECT_THAT(bare.err, HasSubstr("credit@production, loans@production"));
  // An alias points to a version that exists.
  EXPECT_EQ(server.Cli({"aliases", "set", "staging", "credit:99"}).exit_code,
            3);
  EXPECT_EQ(server.Cli({"aliases", "set", "staging", "credit"}).exit_code, 4);
  // aliases set on a served model serves the version under the alias.
  auto set = server.Cli({"aliases", "set", "staging", "credit:1"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_THAT(set.out, HasSubstr("alias credit@staging -> credit:1: serves"));
  auto staging =
      server.Cli({"predict", "--model", "credit@staging", "--json", row});
  EXPECT_THAT(staging.out, HasSubstr("model credit:1 (alias credit@staging)"))
      << staging.err;
}

// `when: evaluate.blessed` gates the steps after an evaluation: with a bound
// no model reaches, the blessed branch is skipped and the other runs.
TEST(EvaluateE2eTest, WhenEvaluateBlessedGatesLaterSteps) {
  TempDir dir;
  Standalone server(dir.path() + "/data", {"--enable_test_steps"});
  std::string pipeline = ReadFile(SourcePath("examples/credit/pipeline.yaml"));
  const std::string gate = "gate: {min: {auc: 0.75}, baseline: production}}";
  ASSERT_NE(pipeline.find(gate), std::string::npos);
  pipeline.replace(pipeline.find(gate), gate.size(),
                   "gate: {min: {auc: 0.99}, baseline: production}}\n"
                   "    - {name: promote, type: noop, after: [evaluate], "
                   "when: evaluate.blessed}\n"
                   "    - {name: alert, type: noop, after: [evaluate], "
                   "when: \"!evaluate.blessed\"}");
  // The file: path is relative to the pipeline file.
  const std::string file = dir.path() + "/pipeline.yaml";
  WriteFile(dir.path() + "/credit.csv",
            ReadFile(SourcePath("examples/credit/credit.csv")));
  WriteFile(file, pipeline);
  auto r = server.Cli({"--output", "json", "run", file, "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  v1::Run run;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &run).ok());
  std::map<std::string, v1::StepState::State> states;
  for (const auto& s : run.steps()) states[s.name()] = s.state();
  EXPECT_EQ(states["evaluate"], v1::StepState::SUCCEEDED);
  EXPECT_EQ(states["promote"], v1::StepState::SKIPPED);
  EXPECT_EQ(states["deploy"], v1::StepState::SKIPPED);  // The real one.
  EXPECT_EQ(states["alert"], v1::StepState::SUCCEEDED);
  for (const auto& s : run.steps()) {
    if (s.name() == "evaluate") {
      EXPECT_FALSE(s.results().fields().at("blessed").bool_value());
    }
  }
}

}  // namespace
}  // namespace mlpipe::testing
