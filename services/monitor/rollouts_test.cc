// Rollouts: driven to promotion and to rollback by evidence, the checks
// recorded, a restart resuming from the store (RocksDB on disk), and the
// operator's pause, resume and abort.
#include "services/monitor/rollouts.h"

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::monitor {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSecond = 1000000;

class RolloutsTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen() {
    rollouts_.reset();
    store_.reset();
    storage::Options o;
    o.column_families = {{.name = kRollouts}};
    auto store = storage::OpenRocksStore(dir_.path() + "/db", o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto r = Rollouts::Open(store_.get());
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

  absl::Status Start() {
    return rollouts_->Start("production", "credit:2", "credit:1", v1::BINARY,
                            {"good", "bad"}, Plan(), 0);
  }

  // n requests of `version` and their actuals: P(bad) from `score` of
  // (i, bad), every fifth one bad.
  void Traffic(const std::string& version, int n, double (*score)(int, bool)) {
    for (int i = 0; i < n; ++i) {
      const bool bad = i % 5 == 0;
      const double p = score(i, bad);
      rollouts_->OnRequest(version, 0.004 + 0.001 * (i % 7) / 7, false);
      google::protobuf::Value actual;
      actual.set_string_value(bad ? "bad" : "good");
      ASSERT_TRUE(
          rollouts_->OnActual(version, {p}, p >= 0.5 ? "bad" : "good", actual)
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
  std::unique_ptr<Rollouts> rollouts_;
};

TEST_F(RolloutsTest, ABetterCanaryAdvancesAndIsPromotedAcrossARestart) {
  ASSERT_TRUE(Start().ok());
  Traffic("credit:2", 5000, Sharp);
  Traffic("credit:1", 5000, Blunt);
  Traffic("credit:9", 100, Blunt);             // Another version: not evidence.
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
  EXPECT_THAT(std::string(rollouts_
                              ->Start("production", "credit:2", "credit:1",
                                      v1::BINARY, {"good", "bad"}, bad, 0)
                              .message()),
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
