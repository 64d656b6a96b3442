#include "services/orchestrator/orchestrator.h"

#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "absl/time/clock.h"
#include "clients/routes.h"
#include "common/config/pipeline_config.h"
#include "common/storage/key_codec.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
using State = v1::StepState;

class OrchestratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterTestExecutors(&executors_);
    Open();
  }
  void TearDown() override { Close(); }

  void Open() {
    auto store = storage::OpenRocksStore(dir_.path() + "/db",
                                         Orchestrator::StorageOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    log_ = std::move(*events::EventLog::Open(store_.get(), "orchestrator"));
    OrchestratorOptions o;
    o.max_parallel_steps = 4;
    o.timeout_grace = absl::Milliseconds(200);
    orch_ = std::move(
        *Orchestrator::Open(o, store_.get(), log_.get(), &executors_));
    ASSERT_TRUE(orch_->Start().ok());
  }
  void Close() {
    orch_.reset();
    log_.reset();
    store_.reset();
  }

  v1::PipelineSpec Spec(const std::string& steps,
                        const std::string& extra = "") {
    auto spec = config::ParsePipeline(
        "apiVersion: mlpipe/v1\nkind: Pipeline\nmetadata: {name: t}\nspec:\n  "
        "steps:\n" +
            steps + extra,
        "t.yaml");
    EXPECT_TRUE(spec.ok()) << spec.status();
    return *spec;
  }

  absl::StatusOr<v1::Run> Submit(const v1::PipelineSpec& spec,
                                 bool no_cache = false) {
    v1::SubmitRunRequest req;
    *req.mutable_spec() = spec;
    req.set_no_cache(no_cache);
    return orch_->SubmitRun(req);
  }

  v1::Run WaitEnd(const std::string& id,
                  absl::Duration timeout = absl::Seconds(20)) {
    absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      auto run = orch_->GetRun(id);
      if (run.ok() && (run->state() == v1::Run::SUCCEEDED ||
                       run->state() == v1::Run::FAILED ||
                       run->state() == v1::Run::CANCELLED)) {
        return *run;
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << "run " << id << " did not end";
    return *orch_->GetRun(id);
  }

  static const v1::StepExecution& Step(const v1::Run& run,
                                       const std::string& name) {
    for (const auto& s : run.steps()) {
      if (s.name() == name) return s;
    }
    static v1::StepExecution none;
    ADD_FAILURE() << "no step " << name;
    return none;
  }
  static absl::Time Started(const v1::StepExecution& s) {
    return absl::FromUnixMicros(
        TimeUtil::TimestampToMicroseconds(s.started_at()));
  }
  static absl::Time Finished(const v1::StepExecution& s) {
    return absl::FromUnixMicros(
        TimeUtil::TimestampToMicroseconds(s.finished_at()));
  }

  testing::TempDir dir_;
  ExecutorRegistry executors_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<Orchestrator> orch_;
};

TEST_F(OrchestratorTest, ValidationErrorsNameFileLineAndField) {
  auto err = [&](const std::string& steps) {
    v1::SubmitRunRequest req;
    *req.mutable_spec() = Spec(steps);
    auto r = orch_->SubmitRun(req);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return r.status().ToString();
  };
  EXPECT_THAT(err("    - {name: a, type: teleport}\n"),
              HasSubstr("t.yaml:6: steps.a.type: unknown step type 'teleport' "
                        "(known: fail, noop, record, sleep)"));
  EXPECT_THAT(err("    - name: a\n      type: sleep\n      seconds: soon\n"),
              HasSubstr("t.yaml:8: steps.a.seconds: expected a number"));
  EXPECT_THAT(err("    - {name: a, type: sleep, colour: red}\n"),
              HasSubstr("steps.a.colour: unknown parameter for type 'sleep'"));
  EXPECT_THAT(err("    - {name: a, type: noop}\n    - {name: b, type: noop, "
                  "when: a.ok}\n"),
              HasSubstr("steps.b.when: 'a.ok' refers to step 'a', which this "
                        "step does not come after"));
  EXPECT_THAT(
      err("    - {name: a, type: noop, retry: {limit: 1, on: [FLAKY]}}\n"),
      HasSubstr("steps.a.retry.on: 'FLAKY' is not a status code name"));
}

TEST_F(OrchestratorTest, IndependentStepsRunInParallel) {
  auto run =
      Submit(Spec("    - {name: a, type: sleep, seconds: 0.4}\n"
                  "    - {name: b, type: sleep, seconds: 0.4}\n"
                  "    - {name: c, type: noop, after: [a, b]}\n"));
  ASSERT_TRUE(run.ok()) << run.status();
  v1::Run done = WaitEnd(run->id());
  ASSERT_EQ(done.state(), v1::Run::SUCCEEDED);
  const auto& a = Step(done, "a");
  const auto& b = Step(done, "b");
  // They overlap in time: each started before the other finished.
  EXPECT_LT(Started(a), Finished(b));
  EXPECT_LT(Started(b), Finished(a));
  EXPECT_GE(Started(Step(done, "c")), std::max(Finished(a), Finished(b)));
}

// A running step shows the progress its work reports; an ended one none.
TEST_F(OrchestratorTest, RunningStepShowsItsProgress) {
  std::mutex mu;
  std::vector<v1::StepExecution> stored;  // What watchers were sent.
  std::vector<absl::Time> when;
  int listener = orch_->AddRunListener([&](const v1::Run& r) {
    std::lock_guard lock(mu);
    if (r.steps_size() > 0 && r.steps(0).has_progress()) {
      stored.push_back(r.steps(0));
      when.push_back(absl::Now());
    }
  });
  auto run = Submit(Spec("    - {name: a, type: sleep, seconds: 1.5}\n"));
  ASSERT_TRUE(run.ok()) << run.status();
  std::set<int64_t> current;  // What GetRun said.
  for (absl::Time end = absl::Now() + absl::Seconds(10); absl::Now() < end;) {
    auto now = orch_->GetRun(run->id());
    ASSERT_TRUE(now.ok());
    const auto& a = Step(*now, "a");
    if (a.state() != State::PENDING && a.state() != State::RUNNING) break;
    if (a.has_progress()) current.insert(a.progress().done());
    absl::SleepFor(absl::Milliseconds(20));
  }
  v1::Run done = WaitEnd(run->id());
  orch_->RemoveRunListener(listener);
  // GetRun shows the latest report; watchers get at most 4 a second.
  EXPECT_GE(current.size(), 8u);
  std::lock_guard lock(mu);
  EXPECT_GE(stored.size(), 3u);
  for (size_t i = 1; i < when.size(); ++i)
    EXPECT_GE(when[i] - when[i - 1], absl::Milliseconds(200)) << i;
  // Reports between stores are stored late, not lost: watchers saw the
  // step near its end (reports come every 150 ms, stores every 250).
  EXPECT_GE(stored.back().progress().done(), 1050);
  for (const auto& a : stored) {
    EXPECT_EQ(a.state(), State::RUNNING);
    EXPECT_EQ(a.progress().total(), 1500);
    EXPECT_EQ(a.progress().message(), "ms slept");
  }
  EXPECT_EQ(done.state(), v1::Run::SUCCEEDED);
  EXPECT_FALSE(Step(done, "a").has_progress());
}

TEST_F(OrchestratorTest, RetryableFailureIsRetriedWithBackoff) {
  auto run =
      Submit(Spec("    - {name: flaky, type: fail, times: 2, retry: {limit: 3, "
                  "initial_backoff: 200ms}}\n"));
  absl::Time start = absl::Now();
  v1::Run done = WaitEnd(run->id());
  absl::Duration took = absl::Now() - start;
  ASSERT_EQ(done.state(), v1::Run::SUCCEEDED);
  EXPECT_EQ(Step(done, "flaky").attempt(), 3);
  EXPECT_EQ(
      Step(done, "flaky").results().fields().at("attempts").number_value(), 3);
  // Backoffs of 200 ms then 400 ms, each within +-20%.
  EXPECT_GE(took, absl::Milliseconds(480));
}

TEST_F(OrchestratorTest,
       NonRetryableFailureFailsAtOnceSkipsDependantsRunsOnExit) {
  std::string file = dir_.path() + "/exit.txt";
  auto run = Submit(Spec(
      "    - {name: bad, type: fail, code: INVALID_ARGUMENT, retry: 5}\n"
      "    - {name: after_bad, type: noop, after: [bad]}\n"
      "    - {name: later, type: noop, after: [after_bad]}\n"
      "    - {name: other, type: noop}\n",
      "  on_exit:\n    - {name: cleanup, type: record, file: " + file + "}\n"));
  v1::Run done = WaitEnd(run->id());
  EXPECT_EQ(done.state(), v1::Run::FAILED);
  EXPECT_EQ(Step(done, "bad").state(), State::FAILED);
  EXPECT_EQ(Step(done, "bad").attempt(), 1);
  EXPECT_EQ(Step(done, "bad").error_code(), 3);
  EXPECT_EQ(Step(done, "after_bad").state(), State::SKIPPED);
  EXPECT_THAT(Step(done, "after_bad").skip_reason(),
              HasSubstr("upstream step 'bad' is FAILED"));
  EXPECT_EQ(Step(done, "later").state(), State::SKIPPED);
  EXPECT_EQ(Step(done, "other").state(), State::SUCCEEDED);
  EXPECT_EQ(Step(done, "cleanup").state(), State::SUCCEEDED);
  EXPECT_EQ(testing::CountLines(file), 1);
}

TEST_F(OrchestratorTest, OnExitStepsAlwaysRunNeverFromCache) {
  std::string file = dir_.path() + "/exit.txt";
  auto spec = Spec(
      "    - {name: a, type: noop}\n",
      "  on_exit:\n    - {name: notify, type: record, file: " + file + "}\n");
  for (int i = 1; i <= 2; ++i) {
    v1::Run done = WaitEnd(Submit(spec)->id());
    EXPECT_EQ(Step(done, "notify").state(), State::SUCCEEDED) << i;
    EXPECT_EQ(testing::CountLines(file), i);
  }
}

TEST_F(OrchestratorTest, RerunIsServedFromCacheWithoutCallingTheExecutor) {
  std::string file = dir_.path() + "/calls.txt";
  auto spec = Spec("    - {name: a, type: record, file: " + file +
                   ", value: x}\n"
                   "    - {name: b, type: record, file: " +
                   file + ", value: y, after: [a]}\n");
  v1::Run first = WaitEnd(Submit(spec)->id());
  ASSERT_EQ(first.state(), v1::Run::SUCCEEDED);
  EXPECT_EQ(testing::CountLines(file), 2);
  v1::Run second = WaitEnd(Submit(spec)->id());
  ASSERT_EQ(second.state(), v1::Run::SUCCEEDED);
  EXPECT_EQ(Step(second, "a").state(), State::CACHED);
  EXPECT_EQ(Step(second, "b").state(), State::CACHED);
  EXPECT_EQ(Step(second, "b").outputs().at("record").id(),
            Step(first, "b").outputs().at("record").id());
  EXPECT_EQ(testing::CountLines(file), 2);  // No executor call.
  // A changed parameter misses for that step and everything after it.
  auto changed = Spec("    - {name: a, type: record, file: " + file +
                      ", value: x}\n"
                      "    - {name: b, type: record, file: " +
                      file + ", value: z, after: [a]}\n");
  v1::Run third = WaitEnd(Submit(changed)->id());
  EXPECT_EQ(Step(third, "a").state(), State::CACHED);
  EXPECT_EQ(Step(third, "b").state(), State::SUCCEEDED);
  // --no-cache runs everything.
  v1::Run fourth = WaitEnd(Submit(spec, /*no_cache=*/true)->id());
  EXPECT_EQ(Step(fourth, "a").state(), State::SUCCEEDED);
  EXPECT_EQ(testing::CountLines(file), 5);
}

TEST_F(OrchestratorTest, WhenConditionsGateSteps) {
  auto run = Submit(
      Spec("    - {name: a, type: sleep, seconds: 0}\n"
           "    - {name: yes, type: noop, after: [a], when: a.slept == 0}\n"
           "    - {name: no, type: noop, after: [a], when: a.slept != 0}\n"
           "    - {name: state, type: noop, after: [a], when: a.state == "
           "SUCCEEDED}\n"));
  v1::Run done = WaitEnd(run->id());
  EXPECT_EQ(done.state(), v1::Run::SUCCEEDED);
  EXPECT_EQ(Step(done, "yes").state(), State::SUCCEEDED);
  EXPECT_EQ(Step(done, "no").state(), State::SKIPPED);
  EXPECT_THAT(Step(done, "no").skip_reason(),
              HasSubstr("when 'a.slept != 0' is false"));
  EXPECT_EQ(Step(done, "state").state(), State::SUCCEEDED);
}

TEST_F(OrchestratorTest, StepTimeout) {
  absl::Time start = absl::Now();
  v1::Run done = WaitEnd(
      Submit(
          Spec(
              "    - {name: slow, type: sleep, seconds: 30, timeout: 200ms}\n"))
          ->id());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(done.state(), v1::Run::FAILED);
  EXPECT_EQ(Step(done, "slow").error_code(), 4);  // DEADLINE_EXCEEDED
}

TEST_F(OrchestratorTest, CancelStopsStepsAndStillRunsOnExit) {
  std::string file = dir_.path() + "/exit.txt";
  auto run = Submit(Spec(
      "    - {name: slow, type: sleep, seconds: 30}\n"
      "    - {name: next, type: noop, after: [slow]}\n",
      "  on_exit:\n    - {name: cleanup, type: record, file: " + file + "}\n"));
  absl::SleepFor(absl::Milliseconds(100));
  auto c = orch_->CancelRun(run->id());
  ASSERT_TRUE(c.ok()) << c.status();
  v1::Run done = WaitEnd(run->id());
  EXPECT_EQ(done.state(), v1::Run::CANCELLED);
  EXPECT_EQ(Step(done, "slow").state(), State::CANCELLED);
  EXPECT_EQ(Step(done, "next").state(), State::SKIPPED);
  EXPECT_EQ(Step(done, "cleanup").state(), State::SUCCEEDED);
  EXPECT_EQ(orch_->CancelRun(run->id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(OrchestratorTest, ResumeRerunsFailedStepsAndKeepsSucceededOnes) {
  std::string calls = dir_.path() + "/calls.txt";
  std::string gate = dir_.path() + "/gate";
  auto run = Submit(Spec("    - {name: first, type: record, file: " + calls +
                         "}\n"
                         "    - {name: gated, type: fail, unless_file: " +
                         gate +
                         ", code: FAILED_PRECONDITION, after: [first]}\n"
                         "    - {name: last, type: record, file: " +
                         calls + ", after: [gated]}\n"),
                    /*no_cache=*/true);
  v1::Run failed = WaitEnd(run->id());
  ASSERT_EQ(failed.state(), v1::Run::FAILED);
  EXPECT_EQ(Step(failed, "last").state(), State::SKIPPED);
  EXPECT_EQ(orch_->ResumeRun("nope").status().code(),
            absl::StatusCode::kNotFound);
  std::ofstream(gate) << "open";
  auto resumed = orch_->ResumeRun(run->id());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  v1::Run done = WaitEnd(run->id());
  EXPECT_EQ(done.state(), v1::Run::SUCCEEDED);
  EXPECT_EQ(Step(done, "first").attempt(), 1);
  EXPECT_EQ(Step(done, "last").state(), State::SUCCEEDED);
  EXPECT_EQ(testing::CountLines(calls), 2);  // `first` did not run again.
  EXPECT_EQ(orch_->ResumeRun(run->id()).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(OrchestratorTest, RestartResumesRunAndReissuesRunningStepWithSameKey) {
  std::string file = dir_.path() + "/effects.txt";
  auto run = Submit(Spec("    - {name: a, type: record, file: " + file +
                         ", value: once, sleep_seconds: 0.5}\n"
                         "    - {name: b, type: noop, after: [a]}\n"));
  ASSERT_TRUE(run.ok());
  absl::SleepFor(absl::Milliseconds(150));
  EXPECT_EQ(Step(*orch_->GetRun(run->id()), "a").state(), State::RUNNING);
  Close();  // The process goes away with `a` running.
  Open();
  v1::Run done = WaitEnd(run->id());
  EXPECT_EQ(done.state(), v1::Run::SUCCEEDED);
  EXPECT_EQ(Step(done, "a").attempt(), 1);
  EXPECT_EQ(Step(done, "a").idempotency_key(), run->id() + "/a");
  EXPECT_EQ(testing::CountLines(file), 1);
}

TEST_F(OrchestratorTest, LineageLinksInputsExecutionsAndOutputs) {
  auto run =
      Submit(Spec("    - {name: a, type: noop}\n"
                  "    - {name: b, type: noop, after: [a]}\n"
                  "    - {name: c, type: noop, after: [b]}\n"));
  v1::Run done = WaitEnd(run->id());
  std::string b_out = Step(done, "b").outputs().at("out").id();
  auto g = orch_->metadata()->GetLineage(b_out, 10);
  ASSERT_TRUE(g.ok()) << g.status();
  std::set<std::string> ids;
  for (const auto& n : g->nodes()) ids.insert(n.id());
  EXPECT_TRUE(ids.contains(Step(done, "a").outputs().at("out").id()));
  EXPECT_TRUE(ids.contains(run->id() + "/b"));
  EXPECT_TRUE(ids.contains(run->id() + "/c"));
  EXPECT_TRUE(ids.contains(Step(done, "c").outputs().at("out").id()));
  bool edge = false;
  for (const auto& e : g->edges())
    edge |= e.from() == run->id() + "/b" && e.to() == b_out;
  EXPECT_TRUE(edge);
  EXPECT_EQ(orch_->metadata()->GetLineage("nope", 3).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(OrchestratorTest, AliasHistoryAnswersWhatWasServingWhen) {
  auto* m = orch_->registry();
  v1::SetAliasRequest r;
  r.set_alias("production");
  r.set_model_version("m:1");
  r.set_set_by("run:r1/deploy");
  ASSERT_TRUE(m->SetAlias(r).ok());
  absl::Time between = absl::Now();
  absl::SleepFor(absl::Milliseconds(5));
  r.set_model_version("m:2");
  auto set = m->SetAlias(r);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->alias(), "m@production");  // Aliases belong to a model.
  for (const char* name : {"production", "m", "m@production"}) {
    EXPECT_EQ(m->GetAlias(name, absl::InfiniteFuture())->model_version(),
              "m:2");
  }
  EXPECT_EQ(m->GetAlias("production", between)->model_version(), "m:1");
  EXPECT_EQ(m->GetAlias("production", between - absl::Hours(1)).status().code(),
            absl::StatusCode::kNotFound);
  auto history = m->AliasHistory("production");
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[0].set_by(), "run:r1/deploy");
  EXPECT_EQ(m->ListAliases()->size(), 1u);
}

TEST_F(OrchestratorTest, RoutesAreRecordedInRevisionOrderAndUndoneExactly) {
  auto* m = orch_->registry();
  auto route = [](const std::string& version, int64_t revision) {
    v1::Route r;
    auto* t = r.add_targets();
    t->set_model_version(version);
    t->set_percent(100);
    r.set_revision(revision);
    r.set_updated_by("monitor:forged");
    return r;
  };
  auto publish = [&](const v1::Route& r, std::optional<int64_t> expected) {
    v1::SetAliasRequest req;
    req.set_alias("m@production");
    req.set_model_version(score::PrimaryOf(r));
    req.set_set_by("user:ann");
    *req.mutable_route() = r;
    if (expected) req.set_expected_route_revision(*expected);
    return m->SetAlias(req);
  };
  auto first = publish(route("m:1", 1), 0);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->route().updated_by(), "user:ann");  // Not the claim.
  ASSERT_TRUE(publish(route("m:2", 2), 1).ok());
  // Out of order, or claiming another primary: refused.
  EXPECT_TRUE(absl::IsAborted(publish(route("m:3", 3), 1).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(publish(route("m:3", 7), 2).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(publish(route("m:3", 0), 2).status()));
  v1::SetAliasRequest mismatch;
  mismatch.set_alias("m@production");
  mismatch.set_model_version("m:9");
  *mismatch.mutable_route() = route("m:3", 3);
  EXPECT_TRUE(absl::IsInvalidArgument(m->SetAlias(mismatch).status()));
  // Nothing goes back: a replica undoing revision 3 publishes revision 2's
  // route again as revision 4.
  ASSERT_TRUE(publish(route("m:3", 3), 2).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(publish(route("m:2", 2), 3).status()));
  v1::Route undo = route("m:2", 4);
  undo.set_restores(2);
  auto undone = publish(undo, 3);
  ASSERT_TRUE(undone.ok()) << undone.status();
  EXPECT_EQ(undone->route().revision(), 4);
  EXPECT_EQ(undone->route().updated_by(), "user:ann");
  // Without an expected revision, revision 0 is the next one.
  auto next = publish(route("m:4", 0), std::nullopt);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->route().revision(), 5);
}

TEST_F(OrchestratorTest, AliasesOfTwoModelsAreApart) {
  auto* m = orch_->registry();
  v1::SetAliasRequest r;
  r.set_alias("production");
  r.set_model_version("credit:2");
  ASSERT_TRUE(m->SetAlias(r).ok());
  // A second pipeline's model takes its own production alias.
  r.set_model_version("german:1");
  ASSERT_TRUE(m->SetAlias(r).ok());
  EXPECT_EQ(
      m->GetAlias("credit@production", absl::InfiniteFuture())->model_version(),
      "credit:2");
  EXPECT_EQ(m->GetAlias("german", absl::InfiniteFuture())->model_version(),
            "german:1");
  auto ambiguous = m->GetAlias("production", absl::InfiniteFuture());
  EXPECT_TRUE(absl::IsInvalidArgument(ambiguous.status()));
  EXPECT_THAT(std::string(ambiguous.status().message()),
              HasSubstr("credit@production, german@production"));
  // An alias named with its model points to a version of that model only.
  r.set_alias("credit@staging");
  EXPECT_TRUE(absl::IsInvalidArgument(m->SetAlias(r).status()));
  r.set_model_version("credit:3");
  EXPECT_TRUE(m->SetAlias(r).ok());
  EXPECT_EQ(m->ListAliases()->size(), 3u);
}

TEST_F(OrchestratorTest, UnqualifiedAliasesMoveUnderTheirModels) {
  // As stored before aliases had models: production pointed to credit:1,
  // then german:1, then credit:2; staging (never a version) to nothing.
  auto put = [&](const std::string& alias, int64_t micros,
                 const std::string& version) {
    v1::AliasRecord r;
    r.set_alias(alias);
    r.set_model_version(version);
    *r.mutable_set_at() = TimeUtil::MicrosecondsToTimestamp(micros);
    std::string key = alias;
    key.push_back('\0');
    storage::AppendU64(&key, static_cast<uint64_t>(micros));
    ASSERT_TRUE(store_->Put("alias_log", key, r.SerializeAsString()).ok());
    ASSERT_TRUE(store_->Put("aliases", alias, r.SerializeAsString()).ok());
  };
  put("production", 1000, "credit:1");
  put("production", 2000, "german:1");
  put("production", 3000, "credit:2");
  auto* m = orch_->registry();
  for (int pass = 0; pass < 2; ++pass) {  // Idempotent.
    ASSERT_TRUE(m->Migrate().ok());
    auto all = m->ListAliases();
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ((*all)[0].alias(), "credit@production");
    EXPECT_EQ((*all)[0].model_version(), "credit:2");
    auto credit = m->AliasHistory("credit@production");
    ASSERT_TRUE(credit.ok()) << credit.status();
    EXPECT_EQ(credit->size(), 2u);
    auto german = m->AliasHistory("german@production");
    ASSERT_TRUE(german.ok()) << german.status();
    EXPECT_EQ((*german)[0].model_version(), "german:1");
    EXPECT_EQ(
        m->GetAlias("production", absl::FromUnixMicros(1500))->model_version(),
        "credit:1");
  }
}

TEST_F(OrchestratorTest, RunEventsAreEmitted) {
  v1::Run done = WaitEnd(Submit(Spec("    - {name: a, type: noop}\n"))->id());
  uint64_t next;
  auto events = log_->Read(1, {}, 10, &next);
  ASSERT_GE(events->size(), 2u);
  EXPECT_EQ((*events)[0].topic(), "run.started");
  EXPECT_EQ(events->back().topic(), "run.succeeded");
  EXPECT_EQ(events->back().attributes().at("run"), done.id());
}

TEST_F(OrchestratorTest, CronScheduleFiresOncePerDueTimeWithInjectedClock) {
  auto spec = Spec("    - {name: a, type: noop}\n",
                   "  triggers:\n    - {schedule: \"0 3 * * *\"}\n");
  auto created = orch_->CreateSchedules(spec);
  ASSERT_TRUE(created.ok()) << created.status();
  ASSERT_EQ(created->size(), 1u);
  absl::Time due = absl::FromUnixMicros(
      TimeUtil::TimestampToMicroseconds((*created)[0].next_fire_at()));
  EXPECT_EQ(absl::ToCivilMinute(due, absl::UTCTimeZone()).hour(), 3);
  EXPECT_EQ(orch_->Tick(due - absl::Seconds(1)), 0);
  EXPECT_EQ(orch_->Tick(due), 1);
  EXPECT_EQ(orch_->Tick(due + absl::Seconds(30)),
            0);  // Same due time: no second run.
  // Three days later: the missed fires make one run, not three.
  EXPECT_EQ(orch_->Tick(due + absl::Hours(72)), 1);
  auto runs = orch_->ListRuns("t", 10);
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0].trigger(), "schedule:" + (*created)[0].id());
  auto list = orch_->ListSchedules();
  ASSERT_EQ(list->size(), 1u);
  EXPECT_TRUE((*list)[0].has_last_fired_at());
  ASSERT_TRUE(orch_->DeleteSchedule((*created)[0].id()).ok());
  EXPECT_EQ(orch_->Tick(due + absl::Hours(200)), 0);
  EXPECT_EQ(orch_->DeleteSchedule("nope").code(), absl::StatusCode::kNotFound);
}

TEST_F(OrchestratorTest, ScheduleErrorsNameTheLine) {
  auto bad_cron = orch_->CreateSchedules(
      Spec("    - {name: a, type: noop}\n",
           "  triggers:\n    - {schedule: \"0 25 * * *\"}\n"));
  EXPECT_THAT(bad_cron.status().ToString(),
              HasSubstr("t.yaml:8: triggers.cron hour '25'"));
  auto bad_tz =
      orch_->CreateSchedules(Spec("    - {name: a, type: noop}\n",
                                  "  triggers:\n    - {schedule: \"0 3 * * "
                                  "*\", timezone: Mars/Olympus}\n"));
  EXPECT_THAT(bad_tz.status().ToString(),
              HasSubstr("unknown time zone 'Mars/Olympus'"));
  auto none = orch_->CreateSchedules(Spec("    - {name: a, type: noop}\n"));
  EXPECT_THAT(none.status().ToString(),
              HasSubstr("spec.triggers: the pipeline has no triggers"));
}

TEST_F(OrchestratorTest, EventTriggerStartsOneRunPerMatchingEvent) {
  auto created = orch_->CreateSchedules(
      Spec("    - {name: a, type: noop}\n",
           "  triggers:\n    - {event: {topic: dataset.ingested, filter: "
           "{dataset: credit}}}\n"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)[0].trigger().event().source(), "ingest");
  EXPECT_EQ(orch_->EventSources(), std::set<std::string>{"ingest"});
  auto event = [](uint64_t seq, const std::string& dataset) {
    v1::Event e =
        events::EventLog::Make("dataset.ingested", {{"dataset", dataset}});
    e.set_sequence(seq);
    return e;
  };
  ASSERT_TRUE(orch_->HandleEvent("ingest", event(1, "other")).ok());
  ASSERT_TRUE(orch_->HandleEvent("ingest", event(2, "credit")).ok());
  ASSERT_TRUE(
      orch_->HandleEvent("ingest", event(2, "credit")).ok());  // Replayed.
  EXPECT_EQ(orch_->EventCursor("ingest"), 2u);
  auto runs = orch_->ListRuns("t", 10);
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].trigger(), "event:dataset.ingested#2");
  auto schedules = orch_->ListSchedules();
  ASSERT_TRUE(schedules.ok());
  EXPECT_TRUE((*schedules)[0].has_last_fired_at());
  // An event from before the trigger existed (an outbox read from its
  // start) starts nothing.
  v1::Event old = event(3, "credit");
  *old.mutable_time() = TimeUtil::MicrosecondsToTimestamp(
      TimeUtil::TimestampToMicroseconds((*created)[0].created_at()) - 1000000);
  ASSERT_TRUE(orch_->HandleEvent("ingest", old).ok());
  EXPECT_EQ(orch_->ListRuns("t", 10)->size(), 1u);
  EXPECT_EQ(orch_->EventCursor("ingest"), 3u);
}

}  // namespace
}  // namespace mlpipe::orchestrator

namespace mlpipe::orchestrator {
namespace {

TEST_F(OrchestratorTest, MoreReadyStepsThanSlotsWaitForOne) {
  // Six independent steps, four slots: two wait for a slot (the engine used
  // to spin on them holding its lock, and the run never ended).
  std::string steps;
  for (int i = 0; i < 6; ++i)
    steps +=
        "    - {name: s" + std::to_string(i) + ", type: sleep, seconds: 0.2}\n";
  auto run = Submit(Spec(steps));
  ASSERT_TRUE(run.ok()) << run.status();
  v1::Run done = WaitEnd(run->id(), absl::Seconds(10));
  EXPECT_EQ(done.state(), v1::Run::SUCCEEDED);
  // At most four at once: the last two start after one of the first ended.
  std::vector<absl::Time> started;
  absl::Time first_end = absl::InfiniteFuture();
  for (const auto& s : done.steps()) {
    started.push_back(Started(s));
    first_end = std::min(first_end, Finished(s));
  }
  std::sort(started.begin(), started.end());
  EXPECT_GE(started[4], first_end);
}

}  // namespace
}  // namespace mlpipe::orchestrator
