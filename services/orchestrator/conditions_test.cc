#include "services/orchestrator/conditions.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::orchestrator {
namespace {

TEST(ConditionsTest, TruthinessComparisonsAndState) {
  std::map<std::string, v1::StepExecution> steps;
  auto& e = steps["evaluate"];
  e.set_state(v1::StepState::SUCCEEDED);
  (*e.mutable_results()->mutable_fields())["blessed"].set_bool_value(true);
  (*e.mutable_results()->mutable_fields())["auc"].set_number_value(0.8);
  (*e.mutable_results()->mutable_fields())["best"].set_string_value("gbdt");
  EXPECT_TRUE(*EvaluateCondition("evaluate.blessed", steps));
  EXPECT_FALSE(*EvaluateCondition("!evaluate.blessed", steps));
  EXPECT_TRUE(*EvaluateCondition("evaluate.auc == 0.8", steps));
  EXPECT_TRUE(*EvaluateCondition("evaluate.best == \"gbdt\"", steps));
  EXPECT_TRUE(*EvaluateCondition("evaluate.best != logreg", steps));
  EXPECT_FALSE(*EvaluateCondition("evaluate.missing", steps));
  EXPECT_TRUE(*EvaluateCondition("evaluate.state == SUCCEEDED", steps));
  EXPECT_FALSE(EvaluateCondition("ghost.x", steps).ok());
  EXPECT_FALSE(CheckCondition("evaluate", {"evaluate"}).ok());
  EXPECT_FALSE(CheckCondition("!a.b == 1", {"a"}).ok());
  EXPECT_TRUE(CheckCondition("a.b == 1", {"a"}).ok());
}

}  // namespace
}  // namespace mlpipe::orchestrator
