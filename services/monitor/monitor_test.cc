#include "services/monitor/monitor.h"

#include <google/protobuf/util/time_util.h>

#include <atomic>
#include <random>
#include <thread>

#include "common/storage/key_codec.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::monitor {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class MonitorTest : public ::testing::Test {
 protected:
  void Open() {
    monitor_.reset();
    events_.reset();
    heard_.clear();
    store_.reset();
    storage::Options o;
    for (const auto& cf : MonitorColumnFamilies())
      o.column_families.push_back({.name = cf});
    o.column_families.push_back({.name = events::kEventsColumnFamily});
    auto s = storage::OpenRocksStore(dir_.path() + "/monitor", o);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    auto log = events::EventLog::Open(store_.get(), "monitor");
    ASSERT_TRUE(log.ok()) << log.status();
    events_ = std::move(*log);
    monitor_ = std::make_unique<Monitor>(store_.get(), options_, events_.get());
    monitor_->SetAlertListener(
        [this](const v1::Alert& a) { heard_.push_back(a); });
    ASSERT_TRUE(monitor_->Restore().ok());
  }
  // `n` predictions of `version` at one per second from `t0` seconds, with
  // amount ~ N(mean, 1).
  std::vector<v1::PredictionRecord> Batch(const std::string& version, int n,
                                          double mean, int64_t t0) {
    std::normal_distribution<double> amount(mean, 1);
    std::vector<v1::PredictionRecord> out(n);
    for (int i = 0; i < n; ++i) {
      auto& r = out[i];
      r.set_model_version(version);
      *r.mutable_time() = TimeUtil::SecondsToTimestamp(t0 + i);
      (*r.mutable_inputs()->mutable_fields())["amount"].set_number_value(
          amount(rng_));
      r.set_prediction_id(version + "-" + std::to_string(next_id_++));
      const double p = std::uniform_real_distribution<double>(0, 1)(rng_);
      r.add_scores(p);
      r.set_label(p >= 0.5 ? "yes" : "no");
    }
    return out;
  }
  v1::MonitorReference Ref(const std::string& version, v1::Profile profile) {
    v1::MonitorReference r;
    r.set_model_version(version);
    r.set_task(v1::BINARY);
    r.add_classes("no");
    r.add_classes("yes");
    *r.mutable_profile() = std::move(profile);
    return r;
  }
  v1::Profile ReferenceProfile() {
    Profiler p;
    for (const auto& r : Batch("x", 5000, 0, 0)) p.AddRecord(r);
    return p.ToProto();
  }
  uint64_t Rows(const std::vector<v1::MonitorWindow>& ws) {
    uint64_t n = 0;
    for (const auto& w : ws) n += w.profile().rows();
    return n;
  }

  testing::TempDir dir_;
  MonitorOptions options_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> events_;
  std::unique_ptr<Monitor> monitor_;
  std::vector<v1::Alert> heard_;
  std::mt19937_64 rng_{5};
  int next_id_ = 0;
};

TEST_F(MonitorTest, WindowsCloseByRowsAndByTimeAndOldOnesGo) {
  options_.window_rows = 1000;
  options_.window_time = absl::Minutes(10);
  options_.windows_kept = 3;
  Open();
  // One row a second: 500 rows (500 s), then 300 twenty minutes later.
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 500, 0, 0)).ok());
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 300, 0, 1200)).ok());
  auto ws = monitor_->Windows("m:1", 10);
  ASSERT_TRUE(ws.ok());
  ASSERT_EQ(ws->size(), 2u);
  EXPECT_TRUE((*ws)[0].closed());  // By time.
  EXPECT_EQ((*ws)[0].profile().rows(), 500u);
  EXPECT_EQ((*ws)[0].start_micros(), 0);
  EXPECT_EQ((*ws)[0].end_micros(), 499'000'000);
  EXPECT_FALSE((*ws)[1].closed());
  // By rows: 1,000 a window, times close together.
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(monitor_->Log(Batch("m:1", 500, 0, 1500 + i)).ok());
  ws = monitor_->Windows("m:1", 10);
  ASSERT_TRUE(ws.ok());
  // Windows 0 .. 3 closed, 4 open; only 3 closed ones are kept.
  std::vector<uint64_t> seqs;
  for (const auto& w : *ws) seqs.push_back(w.seq());
  EXPECT_THAT(seqs, ElementsAre(1, 2, 3, 4));
  EXPECT_EQ((*ws)[1].profile().rows(), 1000u);
  // Versions are apart.
  ASSERT_TRUE(monitor_->Log(Batch("m:2", 10, 0, 0)).ok());
  EXPECT_EQ(Rows(*monitor_->Windows("m:2", 10)), 10u);
}

// A report while windows close and are checkpointed (CloseDue each second
// in the service) counts every row logged before it: a window is never
// between the store and memory for the reader.
TEST_F(MonitorTest, AReportWhileWindowsCloseCountsEveryRowLoggedBefore) {
  options_.window_time = absl::Minutes(10);
  options_.windows_kept = 100000;
  Open();
  std::atomic<uint64_t> logged{0};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) {
      ASSERT_TRUE(monitor_->Log(Batch("m:1", 10, 0, i)).ok());
      logged += 10;
      ASSERT_TRUE(monitor_->CloseDue(absl::FromUnixSeconds(i + 3600)).ok());
    }
    done = true;
  });
  int reports = 0;
  while (!done) {
    const uint64_t before = logged;
    auto report = monitor_->Summary("m:1", 100000, false);
    if (!report.ok()) continue;  // Nothing logged yet.
    ASSERT_GE(report->predictions(), before) << "report " << reports;
    ++reports;
  }
  writer.join();
  EXPECT_GT(reports, 10);
  EXPECT_EQ(monitor_->Summary("m:1", 100000, false)->predictions(), 3000u);
}

TEST_F(MonitorTest, ReportsDriftOfTheLastWindowsAgainstTheReference) {
  options_.window_rows = 2000;
  Open();
  EXPECT_EQ(monitor_->Report("m:1", 2).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(monitor_->SetReference(Ref("m:1", ReferenceProfile())).ok());
  auto empty = monitor_->Report("m:1", 2);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 4000, 0, 0)).ok());
  auto calm = monitor_->Report("m:1", 2);
  ASSERT_TRUE(calm.ok()) << calm.status();
  EXPECT_THAT(calm->drifted(), ElementsAre());
  EXPECT_EQ(calm->current_rows(), 4000u);
  // Then the inputs move: the last two windows drift.
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 4000, 1.5, 5000)).ok());
  auto moved = monitor_->Report("m:1", 2);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_THAT(moved->drifted(), ElementsAre("amount"));
  // A bad reference is refused; the stored one stays.
  v1::Profile bad = ReferenceProfile();
  bad.mutable_fields(0)->set_count(1);
  EXPECT_EQ(monitor_->SetReference(Ref("m:1", bad)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(monitor_->Reference("m:1").ok());
}

TEST_F(MonitorTest, LoggedBatchesSurviveARestartExactlyOnce) {
  options_.window_rows = 700;
  options_.checkpoint_every = 4;
  Open();
  uint64_t logged = 0;
  for (int i = 0; i < 11; ++i) {  // Checkpoints at windows and every 4.
    ASSERT_TRUE(monitor_->Log(Batch("m:1", 100, 0, i * 100)).ok());
    logged += 100;
  }
  // No checkpoint at the end: the last batches are only in `pending`.
  Open();
  auto ws = monitor_->Windows("m:1", 100);
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(Rows(*ws), logged);
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 100, 0, 2000)).ok());
  ASSERT_TRUE(monitor_->Checkpoint().ok());
  Open();
  EXPECT_EQ(Rows(*monitor_->Windows("m:1", 100)), logged + 100);
  // Nothing left pending after a restore's checkpoint.
  EXPECT_FALSE(store_->Scan(kPending, "")->Valid());
}

TEST_F(MonitorTest, ALargeBatchIsCheckpointedNotKeptPending) {
  options_.checkpoint_batch_records = 200;
  Open();
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 300, 0, 0)).ok());
  EXPECT_FALSE(store_->Scan(kPending, "")->Valid());
  Open();
  EXPECT_EQ(Rows(*monitor_->Windows("m:1", 100)), 300u);
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 50, 0, 300)).ok());
  EXPECT_TRUE(store_->Scan(kPending, "")->Valid());
  // The large batch's checkpoint holds the small one's rows too.
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 250, 0, 400)).ok());
  EXPECT_FALSE(store_->Scan(kPending, "")->Valid());
  Open();
  EXPECT_EQ(Rows(*monitor_->Windows("m:1", 100)), 600u);
}

google::protobuf::Value Class(const std::string& c) {
  google::protobuf::Value v;
  v.set_string_value(c);
  return v;
}

TEST_F(MonitorTest, ActualsJoinLoggedPredictionsOnceAndSurviveARestart) {
  options_.performance_rows = 300;
  options_.actuals_horizon = absl::Hours(1);
  Open();
  auto logged = Batch("m:1", 500, 0, 0);
  ASSERT_TRUE(monitor_->Log(logged).ok());
  // No reference yet: the model's classes are unknown, so refused.
  auto early =
      monitor_->RecordActuals({{logged[0].prediction_id(), Class("yes")}});
  ASSERT_TRUE(early.ok());
  EXPECT_EQ(early->recorded(), 0u);
  ASSERT_EQ(early->errors_size(), 1);
  EXPECT_THAT(early->errors(0), HasSubstr("no reference profile"));
  ASSERT_TRUE(monitor_->SetReference(Ref("m:1", ReferenceProfile())).ok());
  // Every other prediction was right.
  std::vector<std::pair<std::string, google::protobuf::Value>> actuals;
  for (int i = 0; i < 400; ++i) {
    const auto& r = logged[i];
    const bool right = i % 2 == 0;
    actuals.push_back({r.prediction_id(),
                       Class((r.label() == "yes") == right ? "yes" : "no")});
  }
  actuals.push_back({logged[0].prediction_id(), Class("yes")});  // Again.
  actuals.push_back({"nope", Class("yes")});
  actuals.push_back({logged[450].prediction_id(), Class("maybe")});
  auto result = monitor_->RecordActuals(actuals);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->recorded(), 400u);
  EXPECT_EQ(result->duplicates(), 1u);
  EXPECT_EQ(result->unmatched(), 1u);
  ASSERT_EQ(result->errors_size(), 1);
  EXPECT_THAT(result->errors(0), HasSubstr("'maybe' is not one of"));
  auto perf = monitor_->Performance("m:1", 10);
  ASSERT_TRUE(perf.ok()) << perf.status();
  EXPECT_EQ(perf->count(), 400u);
  EXPECT_DOUBLE_EQ(perf->accuracy(), 0.5);
  // Windows of 300: the last one alone has 100.
  EXPECT_EQ(monitor_->Performance("m:1", 1)->count(), 100u);

  Open();  // A restart: nothing recorded twice, nothing lost.
  EXPECT_EQ(monitor_->Performance("m:1", 10)->count(), 400u);
  auto again =
      monitor_->RecordActuals({{logged[1].prediction_id(), Class("no")},
                               {logged[499].prediction_id(), Class("no")}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->duplicates(), 1u);
  EXPECT_EQ(again->recorded(), 1u);
  EXPECT_EQ(monitor_->Performance("m:1", 10)->count(), 401u);

  // Predictions older than the horizon (from the newest) cannot be joined.
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 10, 0, 3 * 3600)).ok());
  ASSERT_TRUE(monitor_->Checkpoint().ok());
  auto late =
      monitor_->RecordActuals({{logged[498].prediction_id(), Class("no")}});
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->unmatched(), 1u);
}

// Retention is kept per logged batch (its newest time -> its ids); entries
// of one prediction each (the id in the key, no value), as stores written
// before hold, expire too.
TEST_F(MonitorTest, PredictionsPastTheHorizonGoBatchByBatch) {
  options_.actuals_horizon = absl::Hours(1);
  Open();
  std::string old_key;
  storage::AppendU64(&old_key, 5'000'000);
  v1::LoggedPrediction p;
  p.set_model_version("m:1");
  storage::WriteBatch legacy;
  legacy.Put(kPredictions, "legacy-1", p.SerializeAsString());
  legacy.Put(kPredictionTimes, old_key + "legacy-1", "");
  ASSERT_TRUE(store_->Write(legacy).ok());
  const auto first = Batch("m:1", 300, 0, 0);
  ASSERT_TRUE(monitor_->Log(first).ok());
  const auto second = Batch("m:1", 300, 0, 1800);
  ASSERT_TRUE(monitor_->Log(second).ok());
  auto count = [&](const char* cf) {
    size_t n = 0;
    for (auto it = store_->Scan(cf, ""); it->Valid(); it->Next()) ++n;
    return n;
  };
  EXPECT_EQ(count(kPredictions), 601u);
  EXPECT_EQ(count(kPredictionTimes), 3u);
  // Newest now at 5,000 s, the horizon 3,600 s: the first batch (newest
  // at 299 s) and the legacy entry go; the second (at 2,099 s) stays.
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 1, 0, 5000)).ok());
  ASSERT_TRUE(monitor_->Checkpoint().ok());
  EXPECT_EQ(count(kPredictions), 301u);
  EXPECT_EQ(count(kPredictionTimes), 2u);  // The second and the newest.
  EXPECT_FALSE(store_->Get(kPredictions, "legacy-1").ok());
  EXPECT_FALSE(store_->Get(kPredictions, first[299].prediction_id()).ok());
  EXPECT_TRUE(store_->Get(kPredictions, second[0].prediction_id()).ok());
}

TEST_F(MonitorTest, ADriftedWindowRaisesOneAlertAndEventPerCooldown) {
  options_.window_rows = 500;
  Open();
  ASSERT_TRUE(monitor_->SetReference(Ref("m:1", ReferenceProfile())).ok());
  // Two windows like the reference: no alert.
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 1001, 0, 0)).ok());
  EXPECT_TRUE(heard_.empty());
  // Shifted: the window that closes holds 499 shifted rows of 500.
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 500, 3, 2000)).ok());
  ASSERT_EQ(heard_.size(), 1u);
  const v1::Alert& a = heard_[0];
  EXPECT_EQ(a.kind(), "drift");
  EXPECT_EQ(a.model_version(), "m:1");
  EXPECT_EQ(a.id(), 1u);
  EXPECT_EQ(a.window_seq(), 2u);
  EXPECT_THAT(a.fields(), ElementsAre("amount"));
  EXPECT_EQ(a.metric(), "psi");
  EXPECT_GE(a.value(), a.threshold());
  // The next drifted window is inside the cooldown: stored nowhere.
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 500, 3, 3000)).ok());
  EXPECT_EQ(heard_.size(), 1u);
  uint64_t next = 0;
  auto events = events_->Read(1, {}, 10, &next);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].topic(), "drift.detected");
  EXPECT_EQ((*events)[0].attributes().at("model"), "m");
  EXPECT_EQ((*events)[0].attributes().at("model_version"), "m:1");
  EXPECT_EQ((*events)[0].attributes().at("fields"), "amount");
  // Listed, with what was done about it; the cooldown survives a restart.
  ASSERT_TRUE(monitor_->SetAlertAction(1, "retraining").ok());
  EXPECT_TRUE(absl::IsNotFound(monitor_->SetAlertAction(9, "x")));
  Open();
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 500, 3, 4000)).ok());
  EXPECT_TRUE(heard_.empty());
  auto alerts = monitor_->Alerts("m:1", "drift", 0);
  ASSERT_TRUE(alerts.ok()) << alerts.status();
  ASSERT_EQ(alerts->size(), 1u);
  EXPECT_EQ((*alerts)[0].action(), "retraining");
  EXPECT_TRUE(monitor_->Alerts("m:2", "", 0)->empty());
}

TEST_F(MonitorTest, AWindowWhoseTimeIsUpRaisesItsAlertWithoutMoreTraffic) {
  options_.window_rows = 100000;
  options_.window_time = absl::Minutes(10);
  Open();
  ASSERT_TRUE(monitor_->SetReference(Ref("m:1", ReferenceProfile())).ok());
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 300, 3, 1000)).ok());  // Shifted.
  EXPECT_TRUE(heard_.empty());  // Its window is still open.
  ASSERT_TRUE(monitor_->CloseDue(absl::FromUnixSeconds(1000 + 300)).ok());
  EXPECT_TRUE(heard_.empty());  // Not due yet.
  ASSERT_TRUE(monitor_->CloseDue(absl::FromUnixSeconds(1000 + 601)).ok());
  ASSERT_EQ(heard_.size(), 1u);  // No prediction came since.
  EXPECT_EQ(heard_[0].kind(), "drift");
  EXPECT_EQ(heard_[0].window_seq(), 0u);
  ASSERT_TRUE(monitor_->CloseDue(absl::FromUnixSeconds(1000 + 9000)).ok());
  EXPECT_EQ(heard_.size(), 1u);  // An empty window does not close.
}

TEST_F(MonitorTest, ZeroCooldownRaisesEveryDriftedWindowAndOldAlertsGo) {
  options_.window_rows = 100;
  options_.alert_cooldown = absl::ZeroDuration();
  options_.alerts_kept = 3;
  Open();
  ASSERT_TRUE(monitor_->SetReference(Ref("m:1", ReferenceProfile())).ok());
  ASSERT_TRUE(monitor_->Log(Batch("m:1", 601, 5, 0)).ok());
  EXPECT_EQ(heard_.size(), 6u);
  auto alerts = monitor_->Alerts("", "", 0);
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->size(), 3u);
  EXPECT_EQ((*alerts)[0].id(), 6u);  // Newest first.
  EXPECT_EQ((*alerts)[2].id(), 4u);
}

TEST_F(MonitorTest, PerformanceBelowThePolicyRaisesARollbackAlert) {
  options_.performance_rows = 1000;
  Open();
  ASSERT_TRUE(monitor_->SetReference(Ref("m:1", ReferenceProfile())).ok());
  v1::MonitorPolicy policy;
  policy.set_model_version("m:1");
  policy.set_min_accuracy(0.8);
  policy.set_min_actuals(200);
  policy.set_rollback(true);
  policy.set_alias("production");
  ASSERT_TRUE(monitor_->SetPolicy(policy).ok());
  v1::MonitorPolicy bad = policy;
  bad.set_min_accuracy(1.5);
  EXPECT_THAT(std::string(monitor_->SetPolicy(bad).message()),
              HasSubstr("min_accuracy"));
  auto batch = Batch("m:1", 400, 0, 0);
  ASSERT_TRUE(monitor_->Log(batch).ok());
  // Actuals that agree 60% of the time: below 0.8 once 200 are in.
  std::vector<std::pair<std::string, google::protobuf::Value>> actuals;
  for (int i = 0; i < 400; ++i) {
    const auto& r = batch[i];
    const bool agree = i % 5 < 3;
    google::protobuf::Value v;
    v.set_string_value(agree == (r.label() == "yes") ? "yes" : "no");
    actuals.emplace_back(r.prediction_id(), v);
  }
  std::vector<std::pair<std::string, google::protobuf::Value>> first(
      actuals.begin(), actuals.begin() + 150);
  ASSERT_TRUE(monitor_->RecordActuals(first).ok());
  EXPECT_TRUE(heard_.empty());  // 150 actuals: not judged yet.
  std::vector<std::pair<std::string, google::protobuf::Value>> rest(
      actuals.begin() + 150, actuals.end());
  ASSERT_TRUE(monitor_->RecordActuals(rest).ok());
  ASSERT_EQ(heard_.size(), 1u);
  EXPECT_EQ(heard_[0].kind(), "performance");
  EXPECT_EQ(heard_[0].metric(), "accuracy");
  EXPECT_NEAR(heard_[0].value(), 0.6, 1e-9);
  EXPECT_EQ(heard_[0].threshold(), 0.8);
  EXPECT_EQ(heard_[0].action(), "rollback of 'production' pending");
  uint64_t next = 0;
  auto events = events_->Read(1, {"performance.degraded"}, 10, &next);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].attributes().at("metric"), "accuracy");

  // The summary: drift, performance, target drift, latency, alerts.
  auto summary = monitor_->Summary("m:1", 24, true);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->predictions(), 400u);
  EXPECT_EQ(summary->task(), v1::BINARY);
  EXPECT_EQ(summary->performance().count(), 400u);
  EXPECT_NEAR(summary->performance().accuracy(), 0.6, 1e-9);
  EXPECT_EQ(summary->alerts_size(), 1);
  EXPECT_EQ(summary->policy().min_accuracy(), 0.8);
  EXPECT_TRUE(summary->has_reference_profile());
  EXPECT_EQ(summary->current_profile().rows(), 400u);
  EXPECT_TRUE(summary->drift_error().empty());
  EXPECT_EQ(summary->drift().current_rows(), 400u);
  EXPECT_EQ(monitor_->NewestVersion("m").value(), "m:1");
  EXPECT_TRUE(absl::IsNotFound(monitor_->NewestVersion("n").status()));
}

TEST_F(MonitorTest, TargetDriftComparesActualsWithTheTrainingLabels) {
  Open();
  Profiler training;
  for (int i = 0; i < 1000; ++i) {
    training.AddString("Status", i % 10 < 3 ? "yes" : "no");  // 30% yes.
    training.EndRow();
  }
  v1::MonitorReference ref = Ref("m:1", training.ToProto());
  ref.set_label("Status");
  ASSERT_TRUE(monitor_->SetReference(ref).ok());
  auto batch = Batch("m:1", 1000, 0, 0);
  for (auto& r : batch) r.set_latency_seconds(0.001 * (1 + next_id_++ % 10));
  ASSERT_TRUE(monitor_->Log(batch).ok());
  std::vector<std::pair<std::string, google::protobuf::Value>> actuals;
  for (int i = 0; i < 1000; ++i) {
    google::protobuf::Value v;
    v.set_string_value(i % 10 < 8 ? "yes" : "no");  // 80% yes now.
    actuals.emplace_back(batch[i].prediction_id(), v);
  }
  ASSERT_TRUE(monitor_->RecordActuals(actuals).ok());
  auto summary = monitor_->Summary("m:1", 24, false);
  ASSERT_TRUE(summary.ok()) << summary.status();
  ASSERT_EQ(summary->target_drift().fields_size(), 1);
  EXPECT_EQ(summary->target_drift().fields(0).name(), "Status");
  EXPECT_THAT(summary->target_drift().drifted(), ElementsAre("Status"));
  EXPECT_EQ(summary->latency().count(), 1000u);
  EXPECT_NEAR(summary->latency().p50_seconds(), 0.005, 0.0011);
  EXPECT_NEAR(summary->latency().max_seconds(), 0.010, 1e-12);
  EXPECT_FALSE(summary->has_reference_profile());
}

TEST_F(MonitorTest, LatencyIsCountedPerRequestNotPerRow) {
  Open();
  // Ten requests: one of 991 rows taking 50 ms, nine of one row taking 1 ms.
  auto batch = Batch("m:1", 1000, 0, 0);
  for (size_t i = 0; i < batch.size(); ++i) {
    const bool big = i < 991;
    batch[i].set_latency_seconds(big ? 0.050 : 0.001);
    batch[i].set_request_rows(big ? 991 : 1);
    batch[i].set_request_row(big ? static_cast<int32_t>(i) : 0);
  }
  ASSERT_TRUE(monitor_->Log(batch).ok());
  auto summary = monitor_->Summary("m:1", 24, false);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->latency().count(), 10u);  // Requests, not rows.
  EXPECT_EQ(summary->predictions(), 1000u);
  EXPECT_NEAR(summary->latency().p50_seconds(), 0.001, 1e-9);
  EXPECT_NEAR(summary->latency().max_seconds(), 0.050, 1e-9);
}

}  // namespace
}  // namespace mlpipe::monitor
