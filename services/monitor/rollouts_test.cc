// Rollouts: driven to promotion and to rollback by evidence, the checks
// recorded, a restart resuming from the store (RocksDB on disk), and the
// operator's pause, resume and abort.
#include "services/monitor/rollouts.h"

#include "common/config/pipeline_config.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/monitor/rollout_plan.h"

namespace mlpipe::monitor {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1000000;

class RolloutsTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    rollouts_.reset();
    events_.reset();
    store_.reset();
    storage::Options o;
    o.column_families = {{.name = kRollouts},
                         {.name = events::kEventsColumnFamily}};
    auto store = storage::OpenRocksStore(dir_.path() + "/db", o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto events = events::EventLog::Open(store_.get(), "monitor");
    ASSERT_TRUE(events.ok()) << events.status();
    events_ = *std::move(events);
    auto r = Rollouts::Open(store_.get(), events_.get());
    ASSERT_TRUE(r.ok()) << r.status();
    rollouts_ = *std::move(r);
  }

  static v1::RolloutPlan Plan() {
    v1::RolloutPlan p;
    p.add_steps(10);
    p.add_steps(100);
    p.set_min_actuals(200);
    p.set_interval_seconds(60);
    // Showing an error rate within 1% of the primary's takes thousands of
    // requests (0.1%, the default: tens of thousands).
    p.set_max_error_rate_delta(0.01);
    return p;
  }

  absl::Status Start() { return rollouts_->Start(Req(), 0); }
  static RolloutStart Req() {
    return {.alias = "production",
            .canary = "credit:2",
            .primary = "credit:1",
            .task = v1::BINARY,
            .classes = {"good", "bad"},
            .plan = Plan()};
  }

  // n requests of `version` and their actuals: P(bad) from `score` of
  // (i, bad), every fifth one bad.
  void Traffic(const std::string& version, int n, double (*score)(int, bool),
               const std::string& alias = "production") {
    std::vector<v1::PredictionRecord> log;
    for (int i = 0; i < n; ++i) {
      v1::PredictionRecord r;
      r.set_model_version(version);
      r.set_alias(alias);
      r.set_request_rows(1);
      r.set_latency_seconds(0.004 + 0.001 * (i % 7) / 7);
      log.push_back(std::move(r));
    }
    rollouts_->OnLogged(log);
    for (int i = 0; i < n; ++i) {
      const bool bad = i % 5 == 0;
      const double p = score(i, bad);
      google::protobuf::Value actual;
      actual.set_string_value(bad ? "bad" : "good");
      ASSERT_TRUE(
          rollouts_
              ->OnActual(alias, version, {p}, p >= 0.5 ? "bad" : "good", actual)
              .ok());
    }
  }
  static double Sharp(int i, bool bad) {  // Separates the classes: AUC 1.
    return bad ? 0.8 + 0.01 * (i % 10) : 0.1 + 0.01 * (i % 10);
  }
  static double Blunt(int i, bool bad) {  // Ignores the class: AUC 0.5.
    return 0.3 + 0.04 * (i % 10);
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> events_;
  std::unique_ptr<Rollouts> rollouts_;
};

TEST_F(RolloutsTest, ABetterCanaryAdvancesAndIsPromotedAcrossARestart) {
  ASSERT_TRUE(Start().ok());
  Traffic("credit:2", 5000, Sharp);
  Traffic("credit:1", 5000, Blunt);
  Traffic("credit:9", 100, Blunt);             // Another version: not evidence,
  Traffic("credit:2", 100, Blunt, "staging");  // nor another alias's.
  auto none = rollouts_->Check(30 * kSecond);  // Before its interval.
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto first = rollouts_->Check(60 * kSecond);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].action, canary::Action::kAdvance);
  EXPECT_EQ((*first)[0].share, 100);
  EXPECT_EQ((*first)[0].canary, "credit:2");

  // A restart: where it was and its evidence, from the store.
  Reopen();
  auto r = rollouts_->Get("production");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->state(), v1::Rollout::RUNNING);
  EXPECT_EQ(r->step(), 1);
  EXPECT_EQ(r->canary_evidence().requests(), 5000);
  EXPECT_EQ(r->primary_evidence().performance().count(), 5000u);
  ASSERT_EQ(r->checks_size(), 1);
  EXPECT_EQ(r->checks(0).action(), "advance");
  EXPECT_EQ(r->checks(0).share(), 10);
  ASSERT_EQ(r->checks(0).criteria_size(), 3);
  EXPECT_EQ(r->checks(0).criteria(0).name(), "auc");
  EXPECT_GT(r->checks(0).criteria(0).lower(), 0);  // Better, with confidence.

  auto promoted = rollouts_->Check(120 * kSecond);
  ASSERT_TRUE(promoted.ok());
  ASSERT_EQ(promoted->size(), 1u);
  EXPECT_EQ((*promoted)[0].action, canary::Action::kPromote);
  EXPECT_EQ(rollouts_->Get("production")->state(), v1::Rollout::PROMOTED);
  EXPECT_TRUE(rollouts_->Check(1000 * kSecond)->empty());  // Ended.
}

TEST_F(RolloutsTest, AWorseCanaryIsRolledBackWithTheAnalysisAsReason) {
  ASSERT_TRUE(Start().ok());
  Traffic("credit:2", 5000, Blunt);
  Traffic("credit:1", 5000, Sharp);
  auto actions = rollouts_->Check(60 * kSecond);
  ASSERT_TRUE(actions.ok());
  ASSERT_EQ(actions->size(), 1u);
  EXPECT_EQ((*actions)[0].action, canary::Action::kRollback);
  EXPECT_THAT((*actions)[0].reason, HasSubstr("auc: worse than allowed"));
  auto r = rollouts_->Get("production");
  EXPECT_EQ(r->state(), v1::Rollout::ROLLED_BACK);
  EXPECT_THAT(r->reason(), HasSubstr("auc"));
}

TEST_F(RolloutsTest, OneRolloutAnAliasPlansCheckedPauseResumeAbort) {
  v1::RolloutPlan bad = Plan();
  bad.add_steps(50);  // After 100.
  RolloutStart req = Req();
  req.plan = bad;
  EXPECT_THAT(std::string(rollouts_->Start(req, 0).message()),
              HasSubstr("canary.steps"));
  ASSERT_TRUE(Start().ok());
  EXPECT_EQ(Start().code(), absl::StatusCode::kAlreadyExists);

  ASSERT_TRUE(rollouts_->Pause("production", "looking into it").ok());
  Traffic("credit:2", 5000, Sharp);  // Evidence still gathered.
  Traffic("credit:1", 5000, Blunt);
  EXPECT_TRUE(rollouts_->Check(600 * kSecond)->empty());  // Paused.
  ASSERT_TRUE(rollouts_->Resume("production", 600 * kSecond).ok());
  auto actions = rollouts_->Check(660 * kSecond);
  ASSERT_EQ(actions->size(), 1u);
  EXPECT_EQ((*actions)[0].action, canary::Action::kAdvance);

  ASSERT_TRUE(rollouts_->Abort("production", "by hand").ok());
  EXPECT_EQ(rollouts_->Get("production")->state(), v1::Rollout::ABORTED);
  EXPECT_EQ(rollouts_->Pause("production", "").code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(rollouts_->Get("staging").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(Start().ok());  // A new one once the last has ended.
}

TEST_F(RolloutsTest, TheRouteItWantsIsSetOnceAndEveryChangeIsAnEvent) {
  ASSERT_TRUE(Start().ok());
  auto wanted = rollouts_->Unapplied();
  ASSERT_EQ(wanted.size(), 1u);
  EXPECT_EQ(wanted[0].share, 10);
  EXPECT_EQ(wanted[0].state, v1::Rollout::RUNNING);
  ASSERT_TRUE(rollouts_->MarkApplied(wanted[0], 0, "score unavailable").ok());
  EXPECT_EQ(rollouts_->Get("production")->route_error(), "score unavailable");
  ASSERT_EQ(rollouts_->Unapplied().size(), 1u);  // Retried.
  ASSERT_TRUE(rollouts_->MarkApplied(wanted[0], 7, "").ok());
  EXPECT_TRUE(rollouts_->Unapplied().empty());
  EXPECT_EQ(rollouts_->Get("production")->route_revision(), 7);
  // The next route is set from there.

  Traffic("credit:2", 5000, Blunt);
  Traffic("credit:1", 5000, Sharp);
  ASSERT_EQ(rollouts_->Check(60 * kSecond)->size(), 1u);
  // A stale route (the 10% one) does not count as the rollback's.
  ASSERT_TRUE(rollouts_->MarkApplied(wanted[0], 8, "").ok());
  Reopen();  // What a crash before setting the route leaves.
  wanted = rollouts_->Unapplied();
  ASSERT_EQ(wanted.size(), 1u);
  EXPECT_EQ(wanted[0].state, v1::Rollout::ROLLED_BACK);
  EXPECT_EQ(wanted[0].route_revision, 7);  // Set from the route it left.
  EXPECT_EQ(wanted[0].share, 0);
  EXPECT_THAT(wanted[0].reason, HasSubstr("rollout of credit:2: rolled back"));
  EXPECT_THAT(wanted[0].reason, HasSubstr("auc"));

  uint64_t next = 0;
  auto events = events_->Read(1, {}, 100, &next);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].topic(), "rollout.started");
  EXPECT_EQ((*events)[1].topic(), "rollout.rolled_back");
  EXPECT_EQ((*events)[1].attributes().at("canary"), "credit:2");
  EXPECT_EQ((*events)[1].attributes().at("share"), "0");
}

TEST_F(RolloutsTest, LoggedRequestsCountOnceAndAFallbackIsTheRoutedVersions) {
  ASSERT_TRUE(Start().ok());
  std::vector<v1::PredictionRecord> log;
  auto add = [&](const std::string& version, int rows, bool fallback,
                 bool shadow, const std::string& routed = "") {
    for (int i = 0; i < rows; ++i) {
      v1::PredictionRecord r;
      r.set_model_version(version);
      r.set_alias("production");
      r.set_request_rows(rows);
      r.set_request_row(i);
      r.set_fallback(fallback);
      r.set_shadow(shadow);
      r.set_routed_version(routed);
      r.set_latency_seconds(0.01);
      log.push_back(r);
    }
  };
  add("credit:2", 10, false, false);            // 1 canary request.
  add("credit:1", 3, true, false, "credit:2");  // The canary failed.
  add("credit:1", 4, false, false);             // 1 primary request.
  add("credit:2", 5, false, true);              // A shadow's: not counted.
  add("credit:9", 2, false, false);             // Not in the rollout.
  rollouts_->OnLogged(log);
  auto r = rollouts_->Get("production");
  EXPECT_EQ(r->canary_evidence().requests(), 2);
  EXPECT_EQ(r->canary_evidence().errors(), 1);
  EXPECT_EQ(r->primary_evidence().requests(), 1);
  EXPECT_EQ(r->primary_evidence().errors(), 0);
}

TEST_F(RolloutsTest, ANewerCanarySupersedesTheRunningOne) {
  ASSERT_TRUE(Start().ok());
  RolloutStart newer = Req();
  newer.canary = "credit:3";
  newer.started_by = "run:r2/deploy";
  EXPECT_EQ(rollouts_->Start(newer, kSecond).code(),
            absl::StatusCode::kAlreadyExists);  // Unless asked to.
  newer.supersede = true;
  ASSERT_TRUE(rollouts_->Start(newer, kSecond).ok());
  auto r = rollouts_->Get("production");
  EXPECT_EQ(r->canary(), "credit:3");
  EXPECT_EQ(r->state(), v1::Rollout::RUNNING);
  EXPECT_EQ(r->superseded(), "credit:2");
  auto wanted = rollouts_->Unapplied();
  ASSERT_EQ(wanted.size(), 1u);
  EXPECT_EQ(wanted[0].superseded, "credit:2");
  EXPECT_EQ(wanted[0].started_by, "run:r2/deploy");
  uint64_t next = 0;
  auto events = events_->Read(1, {}, 100, &next);
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[1].topic(), "rollout.aborted");
  EXPECT_THAT(
      (*events)[1].attributes().at("reason"),
      HasSubstr("superseded by the rollout of credit:3 (run:r2/deploy)"));
  newer.canary = "credit:3";  // The same one again: it runs already.
  EXPECT_EQ(rollouts_->Start(newer, kSecond).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(RolloutsTest, WithoutAPrimaryTheCanaryIsPromotedAtOnce) {
  RolloutStart req = Req();
  req.primary.clear();
  ASSERT_TRUE(rollouts_->Start(req, 0).ok());
  auto r = rollouts_->Get("production");
  EXPECT_EQ(r->state(), v1::Rollout::PROMOTED);
  auto wanted = rollouts_->Unapplied();
  ASSERT_EQ(wanted.size(), 1u);
  EXPECT_EQ(wanted[0].share, 100);
}

TEST(RolloutPlanTest, TheYamlPlanBecomesTheProtoWithDurations) {
  auto v = config::ParseYamlValue(
      "{steps: [5, 25, 50, 100], analysis: {metric: logloss, "
      "max_regression: 0.02, min_actuals: 800, max_latency_p99_ratio: 1.5, "
      "max_error_rate_delta: 0.002, interval: 10m, confidence: 0.9}}",
      "plan.yaml");
  ASSERT_TRUE(v.ok()) << v.status();
  auto plan = RolloutPlanFromValue(*v);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->steps(), ::testing::ElementsAre(5, 25, 50, 100));
  EXPECT_EQ(plan->metric(), "logloss");
  EXPECT_EQ(plan->max_regression(), 0.02);
  EXPECT_EQ(plan->min_actuals(), 800);
  EXPECT_EQ(plan->max_latency_p99_ratio(), 1.5);
  EXPECT_EQ(plan->max_error_rate_delta(), 0.002);
  EXPECT_EQ(plan->interval_seconds(), 600);
  EXPECT_EQ(plan->confidence(), 0.9);
  auto bad = [](const std::string& yaml) {
    auto v = config::ParseYamlValue(yaml, "plan.yaml");
    EXPECT_TRUE(v.ok());
    return std::string(RolloutPlanFromValue(*v).status().message());
  };
  EXPECT_THAT(bad("{step: [5, 100]}"), HasSubstr("canary.step: unknown key"));
  EXPECT_THAT(bad("{steps: [5, 2.5, 100]}"),
              HasSubstr("canary.steps[1]: must be a whole number"));
  EXPECT_THAT(bad("{analysis: {min_actuals: 0}}"),
              HasSubstr("canary.analysis.min_actuals"));
  EXPECT_THAT(bad("{analysis: {max_regression: 0}}"),
              HasSubstr("canary.analysis.max_regression: must be > 0"));
  EXPECT_THAT(bad("{analysis: {interval: 0s}}"),
              HasSubstr("canary.analysis.interval: at least 1s"));
  EXPECT_THAT(bad("[5, 100]"), HasSubstr("canary: must be a mapping"));
}

TEST_F(RolloutsTest, AnUnreadableStoredRolloutIsDataLossNamingItsAlias) {
  ASSERT_TRUE(
      store_->Put(kRollouts, "production", "\xff\xffnot a rollout").ok());
  auto r = Rollouts::Open(store_.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("rollout production: unreadable"));
}

}  // namespace
}  // namespace mlpipe::monitor
