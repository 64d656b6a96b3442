#include "services/evaluate/evaluate_models.h"

#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::evaluate {
namespace {

using ::testing::HasSubstr;

// Rows whose labels are fixed by `rows_seed`; the model's scores carry
// `signal` of the label (more signal: a better model).
Scored Model(const std::string& name, double signal, uint64_t seed,
             size_t rows = 1000, uint64_t rows_seed = 1) {
  std::mt19937_64 labels(rows_seed), noise(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Scored s;
  s.model = name;
  s.algorithm = "gbdt";
  s.predictions.task = v1::BINARY;
  s.predictions.classes = {"good", "bad"};
  for (size_t i = 0; i < rows; ++i) {
    double y = u(labels) < 0.3;
    s.predictions.y.push_back(y);
    s.predictions.scores.push_back(signal * y + (1 - signal) * u(noise));
  }
  return s;
}

double Auc(const v1::ModelEvaluation& m) {
  return eval::Find(m.metrics().metrics(), "auc");
}

TEST(EvaluateModelsTest, BestCandidateAndVerdictsAgainstTheBaseline) {
  v1::EvaluateRequest r;
  r.add_models("credit:4");
  r.add_models("credit:5");
  r.add_models("credit:6");
  r.set_baseline_model("credit:3");
  r.set_baseline_alias("production");
  r.set_bootstrap_resamples(50);
  r.add_slices()->add_columns("Home");
  Scored baseline = Model("credit:3", 0.3, 11);
  std::vector<Scored> candidates = {Model("credit:4", 0.2, 12),   // worse
                                    Model("credit:5", 0.5, 13),   // better
                                    Model("credit:6", 0.3, 11)};  // a tie
  eval::SliceColumn home{"Home", {}};
  for (size_t i = 0; i < 1000; ++i)
    home.values.push_back(i % 2 ? "rent" : "own");
  auto e = EvaluateModels(r, candidates, &baseline, {home});
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->candidates_size(), 3);
  EXPECT_EQ(e->metric(), "auc");
  EXPECT_EQ(e->baseline().model(), "credit:3");
  EXPECT_EQ(e->baseline_alias(), "production");
  EXPECT_LT(Auc(e->candidates(0)), Auc(e->baseline()));
  EXPECT_FALSE(e->candidates(0).verdict().blessed());
  EXPECT_TRUE(e->candidates(1).verdict().blessed());
  // Same predictions as the baseline: improvement 0, blessed by the rule.
  EXPECT_EQ(e->candidates(2).verdict().improvement(), 0);
  EXPECT_TRUE(e->candidates(2).verdict().blessed());
  EXPECT_EQ(e->best_model(), "credit:5");
  EXPECT_TRUE(e->blessed());
  EXPECT_EQ(e->candidates(1).slices_size(), 2);
  EXPECT_EQ(e->candidates(1).metrics().interval().resamples(), 50);
  // With a minimum improvement the tie is rejected.
  r.mutable_gate()->set_min_improvement(0.001);
  e = EvaluateModels(r, candidates, &baseline, {home});
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->candidates(2).verdict().blessed());
  EXPECT_TRUE(e->candidates(1).verdict().blessed());
}

// The bootstrap reports how many of every model's resamples are done, in
// order, up to all of them, on any number of threads.
TEST(EvaluateModelsTest, BootstrapProgressCountsEveryModelsResamples) {
  v1::EvaluateRequest r;
  r.add_models("credit:4");
  r.add_models("credit:5");
  r.set_baseline_model("credit:3");
  r.set_bootstrap_resamples(100);
  Scored baseline = Model("credit:3", 0.3, 11);
  std::vector<Scored> candidates = {Model("credit:4", 0.2, 12),
                                    Model("credit:5", 0.5, 13)};
  for (int threads : {1, 3}) {
    std::vector<std::pair<int64_t, int64_t>> heard;
    auto e = EvaluateModels(
        r, candidates, &baseline, {}, threads,
        [&](int64_t done, int64_t total) { heard.emplace_back(done, total); });
    ASSERT_TRUE(e.ok()) << e.status();
    ASSERT_GE(heard.size(), 40u) << threads;
    ASSERT_LE(heard.size(), 60u) << threads;
    for (size_t i = 1; i < heard.size(); ++i)
      EXPECT_GT(heard[i].first, heard[i - 1].first);
    EXPECT_EQ(heard.back(), std::make_pair(int64_t{300}, int64_t{300}));
  }
}

TEST(EvaluateModelsTest, TheChosenModelIsJudgedNotTheBestOnTheTestRows) {
  v1::EvaluateRequest r;
  r.add_models("credit:4");
  r.add_models("credit:5");
  r.set_chosen_model("credit:4");  // Training chose it on its eval part.
  r.set_bootstrap_resamples(0);
  auto* bound = r.mutable_gate()->add_bounds();
  bound->set_metric("auc");
  bound->set_min(0.99);
  std::vector<Scored> candidates = {Model("credit:4", 0.2, 12),
                                    Model("credit:5", 0.5, 13)};
  auto e = EvaluateModels(r, candidates, nullptr, {});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_GT(Auc(e->candidates(1)), Auc(e->candidates(0)));  // Measured too.
  EXPECT_EQ(e->best_model(), "credit:4");
  EXPECT_EQ(e->blessed(), e->candidates(0).verdict().blessed());
  r.set_chosen_model("credit:9");
  EXPECT_THAT(EvaluateModels(r, candidates, nullptr, {}).status().ToString(),
              HasSubstr("chosen_model: credit:9 is not one of models"));
}

TEST(EvaluateModelsTest, BestIsNotBlessedBelowTheBounds) {
  v1::EvaluateRequest r;
  r.add_models("a:1");
  auto* bound = r.mutable_gate()->add_bounds();
  bound->set_metric("auc");
  bound->set_min(0.99);
  r.set_bootstrap_resamples(0);
  auto e = EvaluateModels(r, {Model("a:1", 0.4, 3)}, nullptr, {});
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->best_model(), "a:1");
  EXPECT_FALSE(e->blessed());
  EXPECT_FALSE(e->has_baseline());
}

TEST(EvaluateModelsTest, BadRequestsAreNamed) {
  v1::EvaluateRequest r;
  EXPECT_THAT(CheckRequest(r).ToString(), HasSubstr("models: name at least"));
  r.add_models("a:1");
  r.set_threshold_criterion("median");
  EXPECT_THAT(CheckRequest(r).ToString(),
              HasSubstr("threshold_criterion: \"median\" is not one of"));
  r.clear_threshold_criterion();
  r.set_threshold(1.5);
  EXPECT_THAT(CheckRequest(r).ToString(), HasSubstr("threshold: 1.5"));
  r.clear_threshold();
  r.set_metric("rmse");
  EXPECT_THAT(EvaluateModels(r, {Model("a:1", 0.4, 3)}, nullptr, {})
                  .status()
                  .ToString(),
              HasSubstr("metric: no metric \"rmse\" for BINARY models"));
  r.clear_metric();
  // Models scored on different rows cannot be compared.
  Scored other = Model("b:1", 0.4, 3, 1000, 99);
  EXPECT_THAT(
      EvaluateModels(r, {Model("a:1", 0.4, 3)}, &other, {}).status().ToString(),
      HasSubstr("b:1 was not scored on the same rows as a:1"));
  r.add_slices()->add_columns("Region");
  EXPECT_THAT(EvaluateModels(r, {Model("a:1", 0.4, 3)}, nullptr, {})
                  .status()
                  .ToString(),
              HasSubstr("slices[0]: no column \"Region\""));
}

}  // namespace
}  // namespace mlpipe::evaluate
