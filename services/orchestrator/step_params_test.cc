// A pipeline that would fail for a typo never starts: the real step types'
// parameters are checked at submit, at every depth, with file:line.
#include <string>

#include "common/config/pipeline_config.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/orchestrator/deploy_steps.h"
#include "services/orchestrator/eval_steps.h"
#include "services/orchestrator/ingest_steps.h"
#include "services/orchestrator/orchestrator.h"
#include "services/orchestrator/prep_steps.h"
#include "services/orchestrator/split_steps.h"
#include "services/orchestrator/train_steps.h"

namespace mlpipe::orchestrator {
namespace {

using ::testing::HasSubstr;

// The credit pipeline; `{x}` placeholders are replaced per test.
constexpr char kPipeline[] = R"(apiVersion: mlpipe/v1
kind: Pipeline
metadata: {name: credit-risk}
spec:
  dataset: {dataset}
  label: {label}
  positive_class: {positive}
  steps:
    - {name: load, type: ingest, batch: b-1{load}}
    - {name: split, type: split, after: [load], strategy: stratified,
       ratios: {train: 0.7, eval: 0.15, test: 0.15}, seed: 42{split}}
    - name: features
      type: prepare
      after: [split]
      fit_on: {split: split, part: train}{prepare}
      transforms:
        - {columns: [Income, {assets}], impute: median, scale: standard}
        - columns: [Home, Marital]
          impute: {strategy: mode{impute}}
          one_hot: {max_categories: 20}
    - name: train
      type: train
      after: [split, features]
      search: {metric: auc}
      candidates:
        - {name: logreg, algorithm: logistic_regression, params: {C: [0.1, 1.0]}}
        - name: gbdt
          algorithm: gbdt
          params: {max_depth: [3, 4], rounds: {rounds}, eta: 0.1}{candidate}
    - {name: evaluate, type: evaluate, after: [train], metric: {metric},
       gate: {min: {auc: 0.75}, baseline: production}}
    - {name: deploy, type: deploy, after: [evaluate], when: {when},
       alias: production{deploy}}
{extra}
)";

class StepParamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto none = [] { return std::shared_ptr<grpc::Channel>(); };
    RegisterIngestExecutors(&executors_, none);
    RegisterPrepExecutors(&executors_, none);
    RegisterSplitExecutors(&executors_, none);
    RegisterTrainExecutors(&executors_, none);
    RegisterEvalExecutors(&executors_, none, none);
    RegisterDeployExecutors(&executors_, none, none);
    auto store = storage::OpenRocksStore(dir_.path() + "/db",
                                         Orchestrator::StorageOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    log_ = std::move(*events::EventLog::Open(store_.get(), "orchestrator"));
    OrchestratorOptions options;
    options.dataset_columns = [](const std::string& dataset)
        -> absl::StatusOr<std::vector<std::string>> {
      if (dataset != "credit") return absl::NotFoundError("no such dataset");
      return std::vector<std::string>{"Status", "Income", "Assets", "Home",
                                      "Marital"};
    };
    options.column_values = [](const std::string& dataset,
                               const std::string& column)
        -> absl::StatusOr<std::optional<std::set<std::string>>> {
      if (dataset != "credit") return absl::NotFoundError("no such dataset");
      if (column == "Income") return std::nullopt;  // Too many.
      if (column != "Status") return std::set<std::string>{"owner", "rent"};
      return std::set<std::string>{"bad", "good"};
    };
    orch_ = std::move(
        *Orchestrator::Open(options, store_.get(), log_.get(), &executors_));
  }

  // The pipeline with `{key}` replaced by each value, validated as a submit
  // does (validate_only: nothing starts).
  absl::Status Submit(std::map<std::string, std::string> edits) {
    std::map<std::string, std::string> values = {
        {"split", ""},          {"impute", ""},
        {"load", ""},           {"deploy", ""},
        {"rounds", "300"},      {"candidate", ""},
        {"metric", "auc"},      {"when", "evaluate.blessed"},
        {"label", "Status"},    {"assets", "Assets"},
        {"validate_only", "1"}, {"dataset", "credit"},
        {"positive", "bad"},    {"prepare", ""},
        {"extra", ""}};
    for (auto& [k, v] : edits) values[k] = v;
    std::string yaml = kPipeline;
    for (const auto& [k, v] : values) {
      const std::string placeholder = "{" + k + "}";
      for (size_t at = yaml.find(placeholder); at != std::string::npos;
           at = yaml.find(placeholder))
        yaml.replace(at, placeholder.size(), v);
    }
    auto spec = config::ParsePipeline(yaml, "credit.yaml");
    if (!spec.ok()) return spec.status();
    v1::SubmitRunRequest req;
    *req.mutable_spec() = *spec;
    req.set_validate_only(values["validate_only"] == "1");
    return orch_->SubmitRun(req).status();
  }

  testing::TempDir dir_;
  ExecutorRegistry executors_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<Orchestrator> orch_;
};

TEST_F(StepParamsTest, TheExamplePipelineIsAccepted) {
  EXPECT_TRUE(Submit({}).ok()) << Submit({});
}

TEST_F(StepParamsTest, UnknownKeyInsideATransformNamesFileLineAndKey) {
  auto s = Submit({{"impute", ", strategyy: mean"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("credit.yaml:19: steps.features.transforms[1].impute."
                        "strategyy: unknown key (known: strategy, indicator, "
                        "value)"));
}

TEST_F(StepParamsTest, UnknownKeyInATrainCandidateNamesFileLineAndKey) {
  auto s = Submit({{"candidate", "\n          early_stop: 20"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("credit.yaml:30: steps.train.candidates[1]"
                        ".early_stop: unknown key"));
}

TEST_F(StepParamsTest, ADistributedCandidateIsCheckedAtSubmit) {
  // distributed: {workers: N} on a GBDT candidate: accepted; a misspelt
  // key, a count out of range or another algorithm: refused, named.
  EXPECT_TRUE(
      Submit({{"candidate", "\n          distributed: {workers: 3}"}}).ok());
  auto typo = Submit({{"candidate", "\n          distributed: {worker: 3}"}});
  EXPECT_EQ(typo.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(typo.message()),
              HasSubstr("steps.train.candidates[1].distributed.worker: "
                        "unknown key"));
  auto many =
      Submit({{"candidate", "\n          distributed: {workers: 100}"}});
  EXPECT_EQ(many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(many.message()),
              HasSubstr("candidates[1].distributed.workers: 1..64"));
}

TEST_F(StepParamsTest, ARolloutPlanIsCheckedAtSubmit) {
  EXPECT_TRUE(Submit({{"deploy",
                       ", canary: {steps: [5, 25, 50, 100], analysis: "
                       "{metric: auc, max_regression: 0.01, min_actuals: "
                       "500, max_latency_p99_ratio: 1.2, "
                       "max_error_rate_delta: 0.001, interval: 10m, "
                       "confidence: 0.95}}"}})
                  .ok());
  EXPECT_TRUE(Submit({{"deploy", ", canary: {}"}}).ok());  // The defaults.
  auto typo = Submit({{"deploy", ", canary: {analysis: {intervl: 10m}}"}});
  EXPECT_EQ(typo.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(typo.message()),
              HasSubstr("steps.deploy.canary.analysis.intervl: unknown key"));
  auto steps = Submit({{"deploy", ", canary: {steps: [5, 50]}"}});
  EXPECT_THAT(std::string(steps.message()),
              HasSubstr("steps.deploy.canary.steps: rising percentages "
                        "ending at 100"));
  auto interval =
      Submit({{"deploy", ", canary: {analysis: {interval: soon}}"}});
  EXPECT_THAT(std::string(interval.message()),
              HasSubstr("canary.analysis.interval: a duration"));
  auto metric = Submit({{"deploy", ", canary: {analysis: {metric: f1}}"}});
  EXPECT_THAT(std::string(metric.message()),
              HasSubstr("canary.analysis.metric: one of auc, accuracy"));
  auto confidence =
      Submit({{"deploy", ", canary: {analysis: {confidence: 1.5}}"}});
  EXPECT_THAT(std::string(confidence.message()),
              HasSubstr("canary.analysis.confidence: in [0.5, 1)"));
  auto both = Submit({{"deploy", ", canary: {}, canary_percent: 10"}});
  EXPECT_THAT(std::string(both.message()),
              HasSubstr("cannot be combined with canary_percent"));
}

TEST_F(StepParamsTest, UnknownKeyInASplitStepNamesFileLineAndKey) {
  auto s = Submit({{"split", ", stratify_by: Status"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("credit.yaml:11: steps.split.stratify_by: unknown"));
}

TEST_F(StepParamsTest, ParametersAreTheRequestsFieldsWithTheirTypes) {
  // A value of the wrong type names its key and line.
  auto seed = Submit({{"split", ", seed: -1"}});
  EXPECT_EQ(seed.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(seed.message()),
              HasSubstr("credit.yaml:11: steps.split.seed: expected a whole "
                        "number >= 0, not -1"));
  // An enum in any case; a value it does not have lists those it has.
  EXPECT_TRUE(Submit({{"load", ", format: JSONL"}}).ok());
  auto format = Submit({{"load", ", format: parquet"}});
  EXPECT_THAT(std::string(format.message()),
              HasSubstr("credit.yaml:9: steps.load.format: 'parquet' is not "
                        "one of: csv, jsonl, frames"));
  // Request fields the orchestrator sets itself are no parameters.
  auto version = Submit({{"split", ", version: 3"}});
  EXPECT_THAT(std::string(version.message()),
              HasSubstr("steps.split.version: unknown key (known: "));
  // A field added to the request is a parameter at once (no mapping code):
  // every field of SplitSpec but those two is accepted.
  EXPECT_TRUE(Submit({{"split", ", max_ratio_error: 0.05"}}).ok());
  EXPECT_TRUE(Submit({{"metric", "auc, curve_points: 50, seed: 7"}}).ok());
  auto bins = Submit({{"metric", "auc, calibration_bins: many"}});
  EXPECT_THAT(std::string(bins.message()),
              HasSubstr("credit.yaml:30: steps.evaluate.calibration_bins: "
                        "expected a whole number"));
  // YAML names of renamed fields; the proto name is not a second spelling.
  EXPECT_TRUE(Submit({{"metric", "auc, criterion: youden"}}).ok());
  auto proto_name = Submit({{"metric", "auc, threshold_criterion: youden"}});
  EXPECT_THAT(std::string(proto_name.message()),
              HasSubstr("steps.evaluate.threshold_criterion: unknown key"));
  auto kind = Submit({{"load", ", no_header: maybe"}});
  EXPECT_THAT(std::string(kind.message()),
              HasSubstr("credit.yaml:9: steps.load.no_header: expected true or "
                        "false, not \"maybe\""));
}

TEST_F(StepParamsTest, UpstreamStepsAreCheckedAtSubmit) {
  // A step named for an output must be of the right type and come before.
  auto named = Submit({{"deploy", ", evaluate: split"}});
  EXPECT_EQ(named.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(named.message()),
              HasSubstr("credit.yaml:33: steps.deploy.evaluate: 'split' must "
                        "be a step of type 'evaluate' that this step comes "
                        "after"));
  EXPECT_TRUE(Submit({{"deploy", ", evaluate: evaluate"}}).ok());
  EXPECT_TRUE(Submit({{"deploy", ", train: train"}}).ok());
  auto model = Submit({{"metric", "auc, train: features"}});
  EXPECT_THAT(std::string(model.message()),
              HasSubstr("steps.evaluate.train: 'features' must be a step of "
                        "type 'train'"));
  // Nothing named and two steps that could be meant.
  v1::PipelineSpec spec;
  for (const char* name : {"a", "b"}) {
    auto* s = spec.add_steps();
    s->set_name(name);
    s->set_type("train");
  }
  auto* c = spec.add_steps();
  c->set_name("c");
  c->add_after("a");
  c->add_after("b");
  auto both = UpstreamStep(spec, *c, "train", "train");
  EXPECT_THAT(std::string(both.status().message()),
              HasSubstr("steps a, b are all of type 'train'"));
  c->mutable_params()->mutable_fields()->operator[]("train").set_string_value(
      "b");
  EXPECT_EQ(*UpstreamStep(spec, *c, "train", "train"), "b");
  // Not a step it comes after: d is no ancestor of c.
  auto* d = spec.add_steps();
  d->set_name("d");
  d->set_type("train");
  c->mutable_params()->mutable_fields()->operator[]("train").set_string_value(
      "d");
  EXPECT_FALSE(UpstreamStep(spec, *c, "train", "train").ok());
}

TEST_F(StepParamsTest, ADeployTakesTheEvaluationsBestModelNotTheTrainings) {
  // train chose credit:1 on its eval part, evaluate chose credit:2 on the
  // test part: the deploy step takes the evaluation's.
  v1::PipelineSpec spec;
  auto add = [&](const char* name, const char* type, const char* after) {
    auto* s = spec.add_steps();
    s->set_name(name);
    s->set_type(type);
    if (*after) s->add_after(after);
    return s;
  };
  add("train", "train", "");
  add("evaluate", "evaluate", "train");
  const v1::StepSpec* deploy = add("deploy", "deploy", "evaluate");
  StepContext ctx;
  ctx.spec = &spec;
  ctx.step = deploy;
  auto done = [&](const char* name, const char* best) {
    auto& e = ctx.upstream[name];
    e.set_name(name);
    (*e.mutable_results()->mutable_fields())["best_model"].set_string_value(
        best);
  };
  done("train", "credit:1");
  done("evaluate", "credit:2");
  auto best = UpstreamOutput(ctx, "evaluate", "evaluate", "best_model");
  ASSERT_TRUE(best.ok()) << best.status();
  EXPECT_EQ(*best, "credit:2");
  EXPECT_EQ(*UpstreamOutput(ctx, "train", "train", "best_model"), "credit:1");
}

TEST_F(StepParamsTest, WhenNamingAMissingResultIsRefused) {
  auto s = Submit({{"when", "evaluate.blesed"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("step 'evaluate' has no result 'blesed' "
                        "(its results: evaluation, best_model, "
                        "blessed"));
  // Results a step declares by pattern, and the step's state, are fine.
  EXPECT_TRUE(Submit({{"when", "evaluate.state == SUCCEEDED"}}).ok());
  EXPECT_TRUE(Submit({{"when", "evaluate.auc != 0"}}).ok());
}

TEST_F(StepParamsTest, AMisspeltMetricIsRefused) {
  auto s = Submit({{"metric", "acuracy"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("credit.yaml:30: steps.evaluate.metric: "
                        "'acuracy' is not a metric (auc,"));
}

TEST_F(StepParamsTest, AnOutOfRangeAlgorithmParameterIsRefused) {
  auto s = Submit({{"rounds", "-5"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("steps.train.candidates[1].params.rounds"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("credit.yaml:29"));
  auto misspelt = Submit({{"rounds", "300, max_dept: 4"}});
  EXPECT_EQ(misspelt.code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(StepParamsTest, AMissingColumnIsRefusedAtSubmit) {
  auto s = Submit({{"assets", "Asets"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("credit.yaml:17: steps.features.transforms[0]."
                        "columns[1]: column 'Asets' is not in dataset "
                        "'credit' (its columns: Assets, Home, Income,"));
  auto label = Submit({{"label", "Statuss"}});
  EXPECT_EQ(label.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(label.message()),
              HasSubstr("credit.yaml:6: spec.label: column 'Statuss' is not "
                        "in dataset"));
  // Also when the run would start (not only validate_only).
  EXPECT_EQ(Submit({{"assets", "Asets"}, {"validate_only", "0"}}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(StepParamsTest, SlicesNameColumnsAndBucketsOfTheDataset) {
  auto ok = Submit({{"metric",
                     "auc, slices: [Home, [Home, Marital], {column: Income, "
                     "buckets: 4}]"}});
  EXPECT_TRUE(ok.ok()) << ok;
  auto missing =
      Submit({{"metric", "auc, slices: [{column: Agee, buckets: 4}]"}});
  EXPECT_THAT(std::string(missing.message()),
              HasSubstr("steps.evaluate.slices[0].column: column 'Agee' is "
                        "not in dataset 'credit'"));
  auto bad = Submit({{"metric", "auc, slices: [{column: Income, bins: 4}]"}});
  EXPECT_THAT(std::string(bad.message()),
              HasSubstr("'bins' is not a slice key (column, columns, "
                        "buckets)"));
  auto many =
      Submit({{"metric", "auc, slices: [{column: Income, buckets: 500}]"}});
  EXPECT_THAT(std::string(many.message()),
              HasSubstr("slices[0].buckets: 500 is not in [0, 100]"));
}

TEST_F(StepParamsTest, APositiveClassThatIsNoLabelValueIsRefusedAtSubmit) {
  auto s = Submit({{"positive", "bd"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("credit.yaml:7: spec.positive_class: 'bd' is not a "
                        "value of label 'Status' in dataset 'credit' (its "
                        "values: bad, good)"));
  EXPECT_EQ(Submit({{"positive", "bd"}, {"validate_only", "0"}}).code(),
            absl::StatusCode::kInvalidArgument);
  // A train step's own label and positive class.
  auto own = Submit({{"candidate",
                      "\n      label: Home\n      positive_class: "
                      "bad"}});
  EXPECT_THAT(std::string(own.message()),
              HasSubstr("steps.train.positive_class: 'bad' is not a value of "
                        "label 'Home'"));
  // A label with too many values to list is checked when the step runs; so
  // is a dataset that does not exist yet.
  EXPECT_TRUE(Submit({{"label", "Income"}, {"positive", "x"}}).ok());
  EXPECT_TRUE(Submit({{"dataset", "new"}, {"positive", "bd"}}).ok());
}

TEST_F(StepParamsTest, PrepareAndValidateParametersAreTheirRequestsFields) {
  // select is PrepareRequest.select, a FeatureSelection.
  EXPECT_TRUE(
      Submit({{"prepare", "\n      select: {method: chi2, k: 3}"}}).ok());
  auto k = Submit({{"prepare", "\n      select: {method: chi2, k: many}"}});
  EXPECT_THAT(std::string(k.message()),
              HasSubstr("credit.yaml:16: steps.features.select.k: expected a "
                        "whole number"));
  auto method = Submit({{"prepare", "\n      select: {method: chi3, k: 3}"}});
  EXPECT_THAT(std::string(method.message()),
              HasSubstr("select.method: 'chi3' is not chi2 or mutual_info"));
  auto key = Submit({{"prepare", "\n      select: {method: chi2, kk: 3}"}});
  EXPECT_THAT(std::string(key.message()),
              HasSubstr("steps.features.select.kk: unknown key (known: "));
  auto key_kind = Submit({{"prepare", "\n      entity_key: [a]"}});
  EXPECT_THAT(std::string(key_kind.message()),
              HasSubstr("credit.yaml:16: steps.features.entity_key: expected"));
  // fit_on.rows is [begin, end].
  auto prepare = [&](const std::string& fit_on) {
    return Submit({{"extra",
                    "    - {name: prep2, type: prepare, after: [load], "
                    "transforms: [{columns: [Income], scale: standard}], "
                    "fit_on: " +
                        fit_on + "}"}});
  };
  EXPECT_TRUE(prepare("{rows: [0, 100]}").ok()) << prepare("{rows: [0, 100]}");
  EXPECT_THAT(std::string(prepare("{rows: [0]}").message()),
              HasSubstr("credit.yaml:34: steps.prep2.fit_on.rows: expected "
                        "[begin, end]"));
  EXPECT_THAT(std::string(prepare("{rows: [5, 1]}").message()),
              HasSubstr("rows must satisfy 0 <= row_begin < row_end"));
  EXPECT_THAT(std::string(prepare("{rowz: [0, 1]}").message()),
              HasSubstr("steps.prep2.fit_on.rowz: unknown key"));
  // A validate step: schema, fail_on and nothing else.
  const std::string validate =
      "    - {name: check, type: validate, after: [load], ";
  EXPECT_TRUE(
      Submit({{"extra", validate + "fail_on: [missing_column]}"}}).ok());
  EXPECT_TRUE(Submit({{"extra", validate + "schema: infer}"}}).ok());
  auto kind = Submit({{"extra", validate + "fail_on: [missing_colum]}"}});
  EXPECT_THAT(std::string(kind.message()),
              HasSubstr("credit.yaml:34: steps.check.fail_on: 'missing_colum' "
                        "is not an anomaly kind"));
  auto unknown = Submit({{"extra", validate + "fail_onn: []}"}});
  EXPECT_THAT(std::string(unknown.message()),
              HasSubstr("steps.check.fail_onn: unknown key (known: "));
  auto schema = Submit({{"extra", validate + "schema: inferred}"}});
  EXPECT_THAT(std::string(schema.message()),
              HasSubstr("steps.check.schema: expected infer or {columns:"));
}

TEST_F(StepParamsTest, ColumnsOfADatasetThatDoesNotExistYetAreNotChecked) {
  auto s = Submit({{"assets", "Asets"}, {"dataset", "new"}});
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace mlpipe::orchestrator
