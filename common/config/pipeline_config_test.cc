#include "common/config/pipeline_config.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::config {
namespace {

using ::testing::HasSubstr;

// The example of DESIGN.md §3.
constexpr char kCredit[] = R"(apiVersion: mlpipe/v1
kind: Pipeline
metadata: {name: credit-risk}
spec:
  dataset: credit
  label: Status
  positive_class: bad
  steps:
    - {name: load, type: ingest, file: credit.csv}
    - {name: validate, type: validate, after: [load], schema: infer, fail_on: [missing_column, type_mismatch]}
    - name: features
      type: prepare
      after: [validate]
      transforms:
        - {columns: [Income, Assets, Debt], impute: median, clip: {quantiles: [0.01, 0.99]}, scale: standard}
        - {columns: [Home, Marital, Job, Records], one_hot: {max_categories: 20}}
    - {name: split, type: split, after: [features], strategy: stratified,
       ratios: {train: 0.7, eval: 0.15, test: 0.15}, seed: 42}
    - name: train
      type: train
      after: [split]
      retry: {limit: 2, initial_backoff: 500ms, on: [UNAVAILABLE]}
      timeout: 30m
      candidates:
        - {name: logreg, algorithm: logistic_regression, params: {l2: [0.01, 0.1, 1.0]}}
    - {name: deploy, type: deploy, after: [train], when: train.blessed, alias: production, cache: false}
  triggers:
    - {schedule: "0 3 * * *"}
    - {event: drift.detected}
)";

TEST(PipelineConfigTest, ParsesTheDesignExample) {
  auto spec = ParsePipeline(kCredit, "credit.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->metadata().name(), "credit-risk");
  EXPECT_EQ(spec->dataset(), "credit");
  ASSERT_EQ(spec->steps_size(), 6);
  const auto& load = spec->steps(0);
  EXPECT_EQ(load.type(), "ingest");
  EXPECT_EQ(load.line(), 9);
  EXPECT_EQ(load.params().fields().at("file").string_value(), "credit.csv");
  const auto& split = spec->steps(3);
  EXPECT_EQ(split.params().fields().at("seed").number_value(), 42);
  EXPECT_EQ(split.params()
                .fields()
                .at("ratios")
                .struct_value()
                .fields()
                .at("train")
                .number_value(),
            0.7);
  const auto& train = spec->steps(4);
  EXPECT_EQ(train.retry().limit(), 2);
  EXPECT_DOUBLE_EQ(train.retry().initial_backoff_seconds(), 0.5);
  EXPECT_EQ(train.retry().retry_on(0), "UNAVAILABLE");
  EXPECT_EQ(train.timeout_seconds(), 1800);
  EXPECT_EQ(spec->steps(5).when(), "train.blessed");
  EXPECT_FALSE(spec->steps(5).cache());
  ASSERT_EQ(spec->triggers_size(), 2);
  EXPECT_EQ(spec->triggers(0).schedule(), "0 3 * * *");
  EXPECT_EQ(spec->triggers(1).event().topic(), "drift.detected");
  EXPECT_EQ(TopologicalOrder(*spec).front(), "load");
}

std::string ErrorOf(const std::string& yaml) {
  auto spec = ParsePipeline(yaml, "p.yaml");
  EXPECT_FALSE(spec.ok());
  return spec.status().ToString();
}

constexpr char kHead[] =
    "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  "
    "steps:\n";

TEST(PipelineConfigTest, ErrorsNameFileLineAndField) {
  EXPECT_THAT(
      ErrorOf(std::string(kHead) + "    - {name: a, type: sleep}\n"
                                   "    - {name: a, type: sleep}\n"),
      HasSubstr("p.yaml:7: steps: duplicate step name 'a' (first at line 6)"));
  EXPECT_THAT(ErrorOf(std::string(kHead) +
                      "    - {name: a, type: sleep}\n"
                      "    - {name: b, type: sleep, after: [nope]}\n"),
              HasSubstr("p.yaml:7: steps.b.after: no step named 'nope'"));
  EXPECT_THAT(ErrorOf(std::string(kHead) +
                      "    - {name: a, type: sleep, after: [c]}\n"
                      "    - {name: b, type: sleep, after: [a]}\n"
                      "    - {name: c, type: sleep, after: [b]}\n"),
              HasSubstr("dependency cycle: a -> c -> b -> a"));
  EXPECT_THAT(ErrorOf(std::string(kHead) + "    - {name: a}\n"),
              HasSubstr("p.yaml:6: spec.steps[0].type: required"));
  EXPECT_THAT(
      ErrorOf(std::string(kHead) + "    - {name: a, type: x, timeout: soon}\n"),
      HasSubstr("p.yaml:6: spec.steps[0].timeout: 'soon' is not a duration"));
  EXPECT_THAT(
      ErrorOf(std::string(kHead) + "    - {name: a, type: x, cache: maybe}\n"),
      HasSubstr("spec.steps[0].cache: expected true or false"));
  EXPECT_THAT(ErrorOf("apiVersion: mlpipe/v2\n"),
              HasSubstr("p.yaml:1: apiVersion: 'mlpipe/v2' is not supported"));
  EXPECT_THAT(ErrorOf("apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: "
                      "p}\nspec:\n  stepz: []\n"),
              HasSubstr("p.yaml:5: spec.stepz: unknown field"));
  EXPECT_THAT(
      ErrorOf("apiVersion: mlpipe/v1\nkind: [oops\n"),
      HasSubstr("p.yaml:3: invalid YAML: end of sequence flow not found"));
  EXPECT_THAT(
      ErrorOf(std::string(kHead) +
              "    - {name: a, type: x}\n  triggers:\n    - {cron: x}\n"),
      HasSubstr("p.yaml:8: spec.triggers[0].cron: unknown field"));
}

TEST(PipelineConfigTest, QuotedScalarsStayStrings) {
  auto spec = ParsePipeline(
      std::string(kHead) +
          "    - {name: a, type: x, v: \"42\", w: 42, t: true, n: ~}\n",
      "p.yaml");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& f = spec->steps(0).params().fields();
  EXPECT_EQ(f.at("v").string_value(), "42");
  EXPECT_EQ(f.at("w").number_value(), 42);
  EXPECT_TRUE(f.at("t").bool_value());
  EXPECT_EQ(f.at("n").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(spec->steps(0).param_lines().at("v"), 6);
}

TEST(DurationTest, Units) {
  EXPECT_EQ(*ParseDurationSeconds("250ms"), 0.25);
  EXPECT_EQ(*ParseDurationSeconds("5m"), 300);
  EXPECT_EQ(*ParseDurationSeconds("2h"), 7200);
  EXPECT_EQ(*ParseDurationSeconds("12"), 12);
  EXPECT_FALSE(ParseDurationSeconds("-1s").ok());
}

}  // namespace
}  // namespace mlpipe::config
