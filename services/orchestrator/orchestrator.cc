#include "services/orchestrator/orchestrator.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "services/orchestrator/conditions.h"
#include "services/orchestrator/orchestrator_internal.h"

namespace mlpipe::orchestrator {
namespace {

bool Retryable(const v1::RetryPolicy& policy, absl::StatusCode code) {
  std::string name = metrics::StatusCodeName(static_cast<int>(code));
  if (policy.retry_on_size() == 0) {
    return name == "UNAVAILABLE" || name == "DEADLINE_EXCEEDED" ||
           name == "RESOURCE_EXHAUSTED" || name == "ABORTED";
  }
  return std::find(policy.retry_on().begin(), policy.retry_on().end(), name) !=
         policy.retry_on().end();
}

// Exponential backoff with +-20% jitter.
absl::Duration Backoff(const v1::RetryPolicy& p, int attempt) {
  double initial =
      p.initial_backoff_seconds() > 0 ? p.initial_backoff_seconds() : 1;
  double max = p.max_backoff_seconds() > 0 ? p.max_backoff_seconds() : 60;
  double mult = p.multiplier() > 0 ? p.multiplier() : 2;
  double secs =
      std::min(max, initial * std::pow(mult, std::max(0, attempt - 1)));
  static absl::BitGen* gen = new absl::BitGen();
  static std::mutex* gen_mu = new std::mutex();
  std::lock_guard lock(*gen_mu);
  return absl::Seconds(secs * absl::Uniform(*gen, 0.8, 1.2));
}

}  // namespace

using google::protobuf::util::TimeUtil;

Metrics& Metrics::Get() {
  static Metrics* m = [] {
    auto& r = metrics::Registry();
    return new Metrics{
        prometheus::BuildCounter()
            .Name("mlpipe_orchestrator_runs_total")
            .Help("Runs by state reached (started, succeeded, failed, "
                  "cancelled).")
            .Register(r),
        prometheus::BuildHistogram()
            .Name("mlpipe_orchestrator_step_duration_seconds")
            .Help("Duration of step attempts, by step type.")
            .Register(r),
        prometheus::BuildCounter()
            .Name("mlpipe_orchestrator_cache_lookups_total")
            .Help("Step cache lookups by result (hit, miss).")
            .Register(r),
        prometheus::BuildCounter()
            .Name("mlpipe_orchestrator_step_retries_total")
            .Help("Step attempts scheduled again after a retryable failure.")
            .Register(r)
            .Add({}),
        prometheus::BuildGauge()
            .Name("mlpipe_orchestrator_active_runs")
            .Help("Runs that have not ended.")
            .Register(r)
            .Add({}),
    };
  }();
  return *m;
}

bool IsStatusCodeName(const std::string& name) {
  for (int code = 1; code <= 16; ++code) {
    if (name == metrics::StatusCodeName(code)) return true;
  }
  return false;
}

storage::Options Orchestrator::StorageOptions() {
  storage::Options o;
  o.column_families = {
      {.name = kRuns},       {.name = kRunSpecs},
      {.name = kRunSteps},   {.name = kCache},
      {.name = kSubmitKeys}, {.name = kSchedules},
      {.name = kCursors},    {.name = events::kEventsColumnFamily}};
  MetadataStore::AddColumnFamilies(&o);
  ModelRegistry::AddColumnFamilies(&o);
  return o;
}

Orchestrator::Orchestrator(OrchestratorOptions options, storage::Store* store,
                           events::EventLog* events,
                           const ExecutorRegistry* executors)
    : options_(options),
      store_(store),
      events_(events),
      executors_(executors),
      metadata_(store),
      registry_(store, &metadata_) {}

absl::StatusOr<std::unique_ptr<Orchestrator>> Orchestrator::Open(
    OrchestratorOptions options, storage::Store* store,
    events::EventLog* events, const ExecutorRegistry* executors) {
  if (options.max_parallel_steps < 1) {
    return absl::InvalidArgumentError("max_parallel_steps must be >= 1");
  }
  Metrics::Get();
  return std::unique_ptr<Orchestrator>(
      new Orchestrator(options, store, events, executors));
}

Orchestrator::~Orchestrator() { Stop(); }

absl::Status Orchestrator::Start() {
  if (auto s = registry_.Migrate(); !s.ok()) return s;
  std::lock_guard lock(mu_);
  if (pool_) return absl::OkStatus();
  // Room for steps whose executors overrun their timeouts.
  pool_ = std::make_unique<TaskPool>(options_.max_parallel_steps + 4);
  std::vector<std::pair<ActiveRun*, int>> reissue;
  std::vector<std::string> unfinished;
  for (auto it = store_->Scan(kRuns, ""); it->Valid(); it->Next()) {
    v1::Run header;
    if (!header.ParseFromArray(it->value().data(),
                               static_cast<int>(it->value().size()))) {
      return absl::DataLossError(StrCat("run '", it->key(), "' is corrupt"));
    }
    if (!RunTerminal(header.state())) unfinished.push_back(header.id());
  }
  for (const auto& run_id : unfinished) {
    auto run = LoadRun(run_id, /*with_spec=*/true);
    if (!run.ok()) return run.status();
    auto active = std::make_unique<ActiveRun>(std::move(*run));
    active->spec_stored = true;
    for (const auto& st : active->run.steps()) {
      active->stored_steps.push_back(st.SerializeAsString());
    }
    for (int i = 0; i < active->run.steps_size(); ++i) {
      if (active->step(i).state() == State::RUNNING)
        reissue.push_back({active.get(), i});
    }
    std::string id = active->run.id();
    active_[id] = std::move(active);
  }
  for (auto [run, i] : reissue) DispatchLocked(*run, i);
  AdvanceAllLocked();
  Metrics::Get().active_runs.Set(static_cast<double>(active_.size()));
  return absl::OkStatus();
}

void Orchestrator::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || !pool_) {
      stopping_ = true;
      return;
    }
    stopping_ = true;
    for (auto& [id, run] : active_) {
      for (auto& c : run->cancel) c->store(true);
    }
  }
  pool_->Shutdown();
}

namespace {}  // namespace

void Orchestrator::AdvanceAllLocked() {
  std::vector<std::string> ids;
  for (const auto& [id, run] : active_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = active_.find(id);
    // A failed write leaves the stored state; the next change retries.
    if (it != active_.end()) AdvanceLocked(*it->second).IgnoreError();
  }
}

absl::Status Orchestrator::AdvanceLocked(ActiveRun& run) {
  if (stopping_) {
    return absl::UnavailableError(
        "the orchestrator is stopping; submit the run again after the restart");
  }
  const absl::Time now = absl::Now();
  std::vector<int> to_dispatch;
  bool progress = true;
  while (progress) {
    progress = false;
    bool main_done = true;
    for (int i = 0; i < run.run.steps_size(); ++i) {
      if (!run.step(i).on_exit() && !Terminal(run.step(i).state()))
        main_done = false;
    }
    for (int i = 0; i < run.run.steps_size(); ++i) {
      if (run.step(i).state() != State::PENDING) continue;
      if (std::find(to_dispatch.begin(), to_dispatch.end(), i) !=
          to_dispatch.end())
        continue;
      const Readiness next = ReadinessLocked(run, i, main_done, now);
      if (next == Readiness::kWait) continue;
      run.dirty = true;  // Settled, or at least its cache key set.
      if (next == Readiness::kSettled) {
        progress = true;  // Steps after it may be ready now.
        continue;
      }
      if (running_steps_ + static_cast<int>(to_dispatch.size()) >=
          options_.max_parallel_steps) {
        continue;  // Waits for a slot; advanced again when one frees.
      }
      v1::StepExecution& step = run.step(i);
      step.set_state(State::RUNNING);
      step.set_attempt(step.attempt() + 1);
      *step.mutable_started_at() = Now();
      step.clear_finished_at();
      step.clear_next_attempt_at();
      to_dispatch.push_back(i);
    }
  }
  absl::Status stored = SettleRunLocked(run);
  if (!run.spec_stored) return stored;
  // Started only once their RUNNING state is stored.
  for (int i : to_dispatch) DispatchLocked(run, i);
  if (RunTerminal(run.run.state())) {
    std::string id = run.run.id();
    active_.erase(id);  // `run` is gone now.
    Metrics::Get().active_runs.Set(static_cast<double>(active_.size()));
  }
  return stored;
}

Orchestrator::Readiness Orchestrator::ReadinessLocked(ActiveRun& run, int index,
                                                      bool main_done,
                                                      absl::Time now) {
  v1::StepExecution& step = run.step(index);
  const v1::StepSpec& spec = *run.specs[index];
  if (step.has_next_attempt_at() && ToTime(step.next_attempt_at()) > now)
    return Readiness::kWait;
  if (step.on_exit() && !main_done) return Readiness::kWait;
  int bad_dep = -1;
  for (int d : run.deps[index]) {
    const auto& dep = run.step(d);
    if (!Terminal(dep.state())) return Readiness::kWait;
    if (!Done(dep.state()) && bad_dep < 0) bad_dep = d;
  }
  if (!step.on_exit() && bad_dep >= 0) {
    step.set_state(State::SKIPPED);
    step.set_skip_reason(StrCat("upstream step '", run.step(bad_dep).name(),
                                "' is ",
                                State::State_Name(run.step(bad_dep).state())));
    return Readiness::kSettled;
  }
  if (!step.on_exit() && run.run.cancel_requested()) {
    step.set_state(State::CANCELLED);
    return Readiness::kSettled;
  }
  if (!spec.when().empty()) {
    std::map<std::string, v1::StepExecution> finished;
    for (const auto& s : run.run.steps()) {
      if (Terminal(s.state())) finished[s.name()] = s;
    }
    auto ok = EvaluateCondition(spec.when(), finished);
    if (!ok.ok()) {
      step.set_state(State::FAILED);
      step.set_error_code(static_cast<int>(ok.status().code()));
      step.set_error(std::string(ok.status().message()));
      return Readiness::kSettled;
    }
    if (!*ok) {
      step.set_state(State::SKIPPED);
      step.set_skip_reason(StrCat("when '", spec.when(), "' is false"));
      return Readiness::kSettled;
    }
  }
  return FromCacheLocked(run, index) ? Readiness::kSettled : Readiness::kRun;
}

bool Orchestrator::FromCacheLocked(ActiveRun& run, int index) {
  v1::StepExecution& step = run.step(index);
  const v1::StepSpec& spec = *run.specs[index];
  const StepExecutor* exec = executors_->Find(spec.type());
  // on_exit steps (notifications, clean-up) always run: they react to how
  // this run ended, which no earlier run's output says.
  const bool cacheable = !step.on_exit() && exec->Cacheable(spec) &&
                         (!spec.has_cache() || spec.cache());
  if (!cacheable || !step.cache_key().empty()) return false;
  // --no-cache skips the lookup but still refreshes the entry.
  const std::vector<std::string> inputs = InputArtifacts(run, index);
  step.set_cache_key(CacheKey(run, index, inputs));
  auto hit =
      run.run.no_cache()
          ? absl::StatusOr<std::string>(absl::NotFoundError("no-cache run"))
          : store_->Get(kCache, step.cache_key());
  v1::StepExecution cached;
  if (!hit.ok() || !cached.ParseFromString(*hit)) {
    Metrics::Get().cache_miss.Increment();
    return false;
  }
  Metrics::Get().cache_hit.Increment();
  step.set_state(State::CACHED);
  step.mutable_outputs()->swap(*cached.mutable_outputs());
  step.mutable_results()->Swap(cached.mutable_results());
  *step.mutable_started_at() = Now();
  *step.mutable_finished_at() = step.started_at();
  metadata_.RecordExecution(run.run.id(), step, inputs, &run.writes);
  return true;
}

absl::Status Orchestrator::SettleRunLocked(ActiveRun& run) {
  bool all_done = true, failed = false;
  for (const auto& s : run.run.steps()) {
    all_done &= Terminal(s.state());
    failed |= s.state() == State::FAILED;
  }
  if (all_done && !RunTerminal(run.run.state())) {
    run.run.set_state(run.run.cancel_requested() ? v1::Run::CANCELLED
                      : failed                   ? v1::Run::FAILED
                                                 : v1::Run::SUCCEEDED);
    *run.run.mutable_finished_at() = Now();
    std::string state =
        absl::AsciiStrToLower(v1::Run::State_Name(run.run.state()));
    run.events.push_back(events::EventLog::Make(
        StrCat("run.", state),
        {{"run", run.run.id()}, {"pipeline", run.run.pipeline()}}));
    Metrics::Get().runs.Add({{"state", state}}).Increment();
    run.dirty = true;
  }
  if (!run.dirty) return absl::OkStatus();
  // Step changes are not synced (they survive kill -9; the WAL is written).
  // The end of a run is, so its writes are flushed by the run that made
  // them rather than by whichever synced write comes next.
  auto s = PersistLocked(run, std::move(run.writes), std::move(run.events),
                         RunTerminal(run.run.state()));
  run.writes.Clear();
  run.events.clear();
  run.dirty = false;
  // A failed write leaves the previous state; the next change retries.
  return s;
}

void Orchestrator::DispatchLocked(ActiveRun& run, int index) {
  ++running_steps_;
  auto& cancel = run.cancel[index];
  cancel = std::make_shared<std::atomic<bool>>(false);
  const v1::StepSpec& spec = *run.specs[index];
  run.step(index).clear_progress();  // Of an attempt before a restart.
  run.progress_due[index] = false;
  const v1::StepExecution& step = run.step(index);
  auto ctx = std::make_shared<StepContext>();
  auto spec_copy = std::make_shared<v1::PipelineSpec>(run.run.spec());
  ctx->spec = spec_copy.get();
  ctx->step = index < spec_copy->steps_size()
                  ? &spec_copy->steps(index)
                  : &spec_copy->on_exit(index - spec_copy->steps_size());
  ctx->run_id = run.run.id();
  ctx->attempt = step.attempt();
  ctx->idempotency_key = step.idempotency_key();
  ctx->no_cache = run.run.no_cache();
  for (const auto& s : run.run.steps()) {
    if (Done(s.state())) ctx->upstream[s.name()] = s;
  }
  if (spec.timeout_seconds() > 0) {
    ctx->deadline = absl::Now() + absl::Seconds(spec.timeout_seconds());
    std::string id = run.run.id();
    int attempt = step.attempt();
    pool_->PostAt(
        ctx->deadline + options_.timeout_grace,
        [this, id, index, attempt] { OnTimeout(id, index, attempt); });
  }
  ctx->cancelled = cancel.get();
  ctx->on_progress = [this, id = run.run.id(), index,
                      attempt = step.attempt()](const auto& p) {
    OnStepProgress(id, index, attempt, p);
  };
  StepExecutor* exec = const_cast<StepExecutor*>(executors_->Find(spec.type()));
  std::string id = run.run.id();
  int attempt = step.attempt();
  pool_->Post([this, exec, ctx, spec_copy, cancel, id, index, attempt] {
    absl::StatusOr<StepResult> result = exec->Execute(*ctx);
    OnStepDone(id, index, attempt, std::move(result));
  });
}

// The run whose step `index` runs attempt `attempt`; null when that attempt
// is stale (timed out, cancelled, retried) or the orchestrator is stopping
// (the step stays RUNNING in the store and is re-issued on restart).
Orchestrator::ActiveRun* Orchestrator::RunningAttemptLocked(
    const std::string& run_id, int index, int attempt) {
  if (stopping_) return nullptr;
  auto it = active_.find(run_id);
  if (it == active_.end()) return nullptr;
  const v1::StepExecution& step = it->second->step(index);
  if (step.state() != State::RUNNING || step.attempt() != attempt)
    return nullptr;
  return it->second.get();
}

void Orchestrator::OnStepDone(const std::string& run_id, int index, int attempt,
                              absl::StatusOr<StepResult> result) {
  std::lock_guard lock(mu_);
  ActiveRun* run = RunningAttemptLocked(run_id, index, attempt);
  if (run == nullptr) return;
  --running_steps_;
  FinishStepLocked(*run, index, result.status(),
                   result.ok() ? &*result : nullptr);
  AdvanceAllLocked();
}

void Orchestrator::OnTimeout(const std::string& run_id, int index,
                             int attempt) {
  std::lock_guard lock(mu_);
  ActiveRun* run = RunningAttemptLocked(run_id, index, attempt);
  if (run == nullptr) return;
  run->cancel[index]->store(true);
  --running_steps_;
  FinishStepLocked(
      *run, index,
      absl::DeadlineExceededError(StrCat(
          "step timed out after ", run->specs[index]->timeout_seconds(), " s")),
      nullptr);
  AdvanceAllLocked();
}

// A running step's progress, stored (and so shown to watchers) at most 4
// times a second: a report within 250 ms of the last store is stored 250 ms
// after it (or with the next change, if sooner).
void Orchestrator::OnStepProgress(const std::string& run_id, int index,
                                  int attempt,
                                  const v1::Operation::Progress& progress) {
  constexpr absl::Duration kEvery = absl::Milliseconds(250);
  std::lock_guard lock(mu_);
  ActiveRun* run = RunningAttemptLocked(run_id, index, attempt);
  if (run == nullptr) return;
  *run->step(index).mutable_progress() = progress;
  if (run->progress_due[index]) return;  // The scheduled store takes it.
  const absl::Time due = run->progress_stored[index] + kEvery;
  if (absl::Now() >= due) {
    StoreProgressLocked(*run, index);
    return;
  }
  run->progress_due[index] = true;
  pool_->PostAt(due, [this, run_id, index, attempt] {
    std::lock_guard lock(mu_);
    ActiveRun* r = RunningAttemptLocked(run_id, index, attempt);
    if (r != nullptr && r->progress_due[index]) StoreProgressLocked(*r, index);
  });
}

void Orchestrator::StoreProgressLocked(ActiveRun& run, int index) {
  run.progress_stored[index] = absl::Now();
  run.progress_due[index] = false;
  run.dirty = true;
  SettleRunLocked(run).IgnoreError();  // A failed write: the next retries.
}

void Orchestrator::FinishStepLocked(ActiveRun& run, int index,
                                    absl::Status status, StepResult* result) {
  v1::StepExecution& step = run.step(index);
  const v1::StepSpec& spec = *run.specs[index];
  *step.mutable_finished_at() = Now();
  step.clear_progress();
  Metrics::Get()
      .step_seconds.Add({{"type", spec.type()}}, metrics::LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(ToTime(step.finished_at()) -
                                     ToTime(step.started_at())));
  run.dirty = true;
  if (status.ok()) {
    step.set_state(State::SUCCEEDED);
    step.set_error_code(0);
    step.clear_error();
    step.mutable_outputs()->clear();
    for (auto& [name, artifact] : result->outputs) {
      if (!artifact.has_created_at()) *artifact.mutable_created_at() = Now();
      (*step.mutable_outputs())[name] = artifact;
    }
    *step.mutable_results() = result->results;
    if (!step.cache_key().empty()) {
      run.writes.Put(kCache, step.cache_key(), step.SerializeAsString());
    }
    metadata_.RecordExecution(run.run.id(), step, InputArtifacts(run, index),
                              &run.writes);
    return;
  }
  step.set_error_code(static_cast<int>(status.code()));
  step.set_error(std::string(status.message()));
  if (run.run.cancel_requested() &&
      status.code() == absl::StatusCode::kCancelled) {
    step.set_state(State::CANCELLED);
    return;
  }
  if (Retryable(spec.retry(), status.code()) &&
      step.attempt() <= spec.retry().limit()) {
    absl::Time next = absl::Now() + Backoff(spec.retry(), step.attempt());
    step.set_state(State::PENDING);
    *step.mutable_next_attempt_at() =
        TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(next));
    Metrics::Get().retries.Increment();
    std::string id = run.run.id();
    pool_->PostAt(next, [this, id] {
      std::lock_guard lock(mu_);
      auto it = active_.find(id);
      if (it != active_.end()) AdvanceLocked(*it->second).IgnoreError();
    });
    return;
  }
  step.set_state(State::FAILED);
}

absl::Status Orchestrator::PersistLocked(ActiveRun& run,
                                         storage::WriteBatch batch,
                                         std::vector<v1::Event> events,
                                         bool sync) {
  run.run.set_revision(run.run.revision() + 1);
  // The header: the run without its spec and steps (moved aside, not
  // copied: a run of 100 steps copied them at every change).
  v1::Run header;
  {
    google::protobuf::RepeatedPtrField<v1::StepExecution> steps;
    steps.Swap(run.run.mutable_steps());
    std::unique_ptr<v1::PipelineSpec> spec(run.run.release_spec());
    header = run.run;
    run.run.set_allocated_spec(spec.release());
    run.run.mutable_steps()->Swap(&steps);
  }
  batch.Put(kRuns, run.run.id(), header.SerializeAsString());
  if (!run.spec_stored) {
    batch.Put(kRunSpecs, run.run.id(), run.run.spec().SerializeAsString());
  }
  run.stored_steps.resize(run.run.steps_size());
  std::vector<std::pair<int, std::string>> changed;
  for (int i = 0; i < run.run.steps_size(); ++i) {
    std::string bytes = run.run.steps(i).SerializeAsString();
    if (bytes != run.stored_steps[i]) {
      batch.Put(kRunSteps, StepKey(run.run.id(), i), bytes);
      changed.emplace_back(i, std::move(bytes));
    }
  }
  auto s = events_->Commit(std::move(batch), std::move(events), {.sync = sync});
  if (s.ok()) {
    run.spec_stored = true;
    for (auto& [i, bytes] : changed) run.stored_steps[i] = std::move(bytes);
  }
  for (auto& [id, fn] : listeners_) fn(run.run);
  return s;
}

std::vector<std::string> Orchestrator::InputArtifacts(const ActiveRun& run,
                                                      int index) const {
  std::vector<std::string> ids;
  for (int d : run.deps[index]) {
    for (const auto& [name, artifact] : run.run.steps(d).outputs()) {
      ids.push_back(artifact.id());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string Orchestrator::CacheKey(
    const ActiveRun& run, int index,
    const std::vector<std::string>& inputs) const {
  const v1::StepSpec& spec = *run.specs[index];
  Sha256 h;
  auto part = [&](std::string_view s) {
    h.Update(StrCat(s.size(), ":"));
    h.Update(s);
  };
  part(spec.type());
  part(executors_->Find(spec.type())->version());
  part(run.run.spec().dataset());
  part(run.run.spec().label());
  part(run.run.spec().positive_class());
  part(DeterministicBytes(spec.params()));
  for (const auto& id : inputs) part(id);
  return h.HexDigest();
}

}  // namespace mlpipe::orchestrator
