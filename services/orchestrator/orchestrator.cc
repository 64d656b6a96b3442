#include "services/orchestrator/orchestrator.h"

#include <algorithm>
#include <optional>
#include <set>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "common/config/pipeline_config.h"
#include "common/metrics/metrics.h"
#include "common/storage/key_codec.h"
#include "common/util/ids.h"
#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "services/orchestrator/conditions.h"
#include "services/orchestrator/cron.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::util::TimeUtil;
using State = v1::StepState;

// A run is stored as a header (the Run without spec and steps), its spec
// (written once) and one record per step, so a step change writes only that
// step instead of the whole run.
constexpr char kRuns[] = "runs";
constexpr char kRunSpecs[] = "run_specs";
constexpr char kRunSteps[] = "run_steps";

std::string StepKey(const std::string& run_id, int index) {
  std::string k = run_id + "/";
  storage::AppendU32(&k, static_cast<uint32_t>(index));
  return k;
}
constexpr char kCache[] = "cache";
constexpr char kSubmitKeys[] = "submit_keys";
constexpr char kSchedules[] = "schedules";
constexpr char kCursors[] = "cursors";

// The service that emits `topic`, when a trigger does not say.
std::string DefaultSource(const std::string& topic) {
  static const std::map<std::string, std::string> kOwners = {
      {"dataset", "ingest"},
      {"features", "prep"},
      {"data", "prep"},
      {"split", "split"},
      {"model.trained", "train"},
      {"model.blessed", "evaluate"},
      {"model.rejected", "evaluate"},
      {"model.deployed", "score"},
      {"drift", "monitor"},
      {"performance", "monitor"},
      {"run", "orchestrator"}};
  for (const auto& [prefix, owner] : kOwners) {
    if (topic == prefix || topic.starts_with(prefix + ".")) return owner;
  }
  return "";
}

absl::StatusOr<absl::TimeZone> ZoneOf(const v1::TriggerSpec& t) {
  absl::TimeZone tz = absl::UTCTimeZone();
  if (!t.timezone().empty() && !absl::LoadTimeZone(t.timezone(), &tz)) {
    return absl::InvalidArgumentError(
        StrCat("timezone: unknown time zone '", t.timezone(), "'"));
  }
  return tz;
}

google::protobuf::Timestamp Now() {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
}
absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

bool Terminal(State::State s) {
  return s == State::SUCCEEDED || s == State::FAILED || s == State::SKIPPED ||
         s == State::CACHED || s == State::CANCELLED;
}
bool Done(State::State s) {
  return s == State::SUCCEEDED || s == State::CACHED;
}
bool RunTerminal(v1::Run::State s) {
  return s == v1::Run::SUCCEEDED || s == v1::Run::FAILED ||
         s == v1::Run::CANCELLED;
}

struct Metrics {
  prometheus::Family<prometheus::Counter>& runs;
  prometheus::Family<prometheus::Histogram>& step_seconds;
  prometheus::Family<prometheus::Counter>& cache;
  prometheus::Counter& retries;
  prometheus::Gauge& active_runs;

  static Metrics& Get() {
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
};

bool IsStatusCodeName(const std::string& name) {
  for (int code = 1; code <= 16; ++code) {
    if (name == metrics::StatusCodeName(code)) return true;
  }
  return false;
}

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

struct Orchestrator::ActiveRun {
  v1::Run run;
  // Parallel to run.steps(); point into run.spec.
  std::vector<const v1::StepSpec*> specs;
  std::map<std::string, int> index;
  std::vector<std::shared_ptr<std::atomic<bool>>> cancel;
  // Lineage and cache entries to persist with the run.
  storage::WriteBatch writes;
  std::vector<std::string> stored_steps;  // Each step as last stored.
  bool spec_stored = false;
  std::vector<v1::Event> events;
  bool dirty = false;

  explicit ActiveRun(v1::Run r) : run(std::move(r)) {
    for (auto& s : *run.mutable_spec()->mutable_steps()) specs.push_back(&s);
    for (auto& s : *run.mutable_spec()->mutable_on_exit()) specs.push_back(&s);
    for (size_t i = 0; i < specs.size(); ++i) {
      index[specs[i]->name()] = static_cast<int>(i);
      cancel.push_back(std::make_shared<std::atomic<bool>>(false));
    }
  }
  v1::StepExecution& step(int i) { return *run.mutable_steps(i); }
};

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

namespace {

// file:line of the deepest parameter path of `step` that `msg` names
// ("steps.x.transforms[0].impute.strategyy: ..."), else of the step.
std::string WhereIn(const v1::PipelineSpec& spec, const v1::StepSpec& step,
                    std::string_view msg) {
  std::string at = config::Where(spec, step.line());
  size_t best = 0;
  for (const auto& [param, line] : step.param_lines()) {
    const std::string path = StrCat(".", param);
    for (size_t pos = msg.find(path); pos != std::string::npos;
         pos = msg.find(path, pos + 1)) {
      const size_t end = pos + path.size();
      const bool whole = end == msg.size() || msg[end] == ':' ||
                         msg[end] == '.' || msg[end] == '[' || msg[end] == ' ';
      if (whole && path.size() > best) {
        best = path.size();
        at = config::Where(spec, line);
      }
    }
  }
  return at;
}

// Whether the pipeline uploads a file before it runs (`ingest` with
// `file:`): the dataset's schema is then the new file's, not the stored one.
bool UploadsAFile(const v1::PipelineSpec& spec) {
  for (const auto& s : spec.steps()) {
    if (s.type() == "ingest" && s.params().fields().contains("file"))
      return true;
  }
  return false;
}

}  // namespace

absl::Status Orchestrator::CheckColumns(const v1::PipelineSpec& spec) const {
  if (!options_.dataset_columns) return absl::OkStatus();
  std::map<std::string, std::optional<std::set<std::string>>> schemas;
  auto columns_of = [&](const std::string& dataset)
      -> const std::optional<std::set<std::string>>& {
    auto [it, added] = schemas.try_emplace(dataset);
    if (added && !dataset.empty()) {
      auto cols = options_.dataset_columns(dataset);
      // An unknown dataset (or an unreachable ingest service) is checked
      // when the step runs.
      if (cols.ok()) it->second.emplace(cols->begin(), cols->end());
    }
    return it->second;
  };
  auto check = [&](const std::string& dataset, const std::string& column,
                   const std::string& where, const std::string& field) {
    const auto& cols = columns_of(dataset);
    if (!cols || cols->contains(column)) return absl::OkStatus();
    std::string known;
    for (const auto& c : *cols) {
      if (known.size() > 400) {
        known += ", ...";
        break;
      }
      StrAppend(&known, known.empty() ? "" : ", ", c);
    }
    return absl::InvalidArgumentError(StrCat(
        where, ": ", field, ": column '", column, "' is not in dataset '",
        dataset, "' (its columns: ", known, ")"));
  };
  if (!spec.label().empty()) {
    if (auto s = check(spec.dataset(), spec.label(), config::Where(spec, 1),
                       "spec.label");
        !s.ok())
      return s;
  }
  for (const auto& step : spec.steps()) {
    const StepExecutor* e = executors_->Find(step.type());
    if (e == nullptr) continue;
    for (const auto& ref : e->Columns(step)) {
      const std::string field = StrCat("steps.", step.name(), ".", ref.path);
      if (auto s = check(StepDataset(spec, step), ref.column,
                         WhereIn(spec, step, field), field);
          !s.ok())
        return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Orchestrator::ValidateSpec(const v1::PipelineSpec& spec) const {
  if (auto s = config::ValidateDag(spec); !s.ok()) return s;
  if (!IsValidName(spec.metadata().name())) {
    return absl::InvalidArgumentError(StrCat(
        config::Where(spec, 1), ": metadata.name: required, a valid name"));
  }
  // Every step's transitive upstream, for `when:` references.
  std::map<std::string, const v1::StepSpec*> by_name;
  for (const auto& s : spec.steps()) by_name[s.name()] = &s;
  for (const auto& s : spec.on_exit()) by_name[s.name()] = &s;
  std::function<void(const std::string&, std::set<std::string>*)> upstream =
      [&](const std::string& n, std::set<std::string>* out) {
        for (const auto& a : by_name[n]->after()) {
          if (out->insert(a).second) upstream(a, out);
        }
      };
  std::string known;
  for (const auto& n : executors_->Names())
    StrAppend(&known, known.empty() ? "" : ", ", n);
  for (const auto& [name, step] : by_name) {
    std::string at = config::Where(spec, step->line());
    const StepExecutor* e = executors_->Find(step->type());
    if (e == nullptr) {
      return absl::InvalidArgumentError(
          StrCat(at, ": steps.", name, ".type: unknown step type '",
                 step->type(), "' (known: ", known, ")"));
    }
    if (auto s = e->Validate(spec, *step); !s.ok()) {
      return absl::Status(
          s.code(), StrCat(WhereIn(spec, *step, std::string(s.message())), ": ",
                           s.message()));
    }
    if (!step->when().empty()) {
      std::set<std::string> up;
      upstream(name, &up);
      auto results = [&](const std::string& n) -> std::vector<std::string> {
        const StepExecutor* x = executors_->Find(by_name[n]->type());
        return x == nullptr ? std::vector<std::string>{}
                            : x->ResultNames(*by_name[n]);
      };
      if (auto s = CheckCondition(step->when(), up, results); !s.ok()) {
        return absl::InvalidArgumentError(
            StrCat(at, ": steps.", name, ".", s.message()));
      }
    }
    for (const auto& code : step->retry().retry_on()) {
      if (!IsStatusCodeName(code)) {
        return absl::InvalidArgumentError(
            StrCat(at, ": steps.", name, ".retry.on: '", code,
                   "' is not a status code name (e.g. UNAVAILABLE)"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Run> Orchestrator::SubmitRun(
    const v1::SubmitRunRequest& request, const std::string& trigger) {
  if (auto s = ValidateSpec(request.spec()); !s.ok()) return s;
  // Before an upload the stored schema may be the old file's: checked again
  // at the submit that follows the upload.
  if (!request.validate_only() || !UploadsAFile(request.spec())) {
    if (auto s = CheckColumns(request.spec()); !s.ok()) return s;
  }
  if (request.validate_only()) {
    v1::Run checked;
    checked.set_pipeline(request.spec().metadata().name());
    return checked;
  }
  std::lock_guard lock(mu_);
  if (stopping_ || !pool_)
    return absl::UnavailableError("orchestrator is not running");
  if (!request.idempotency_key().empty()) {
    auto prior = store_->Get(kSubmitKeys, request.idempotency_key());
    if (prior.ok()) {
      auto it = active_.find(*prior);
      if (it != active_.end()) return it->second->run;
      auto r = LoadRun(*prior, /*with_spec=*/true);
      if (r.ok()) return r;
    }
  }
  v1::Run run;
  run.set_id(NewId("r"));
  run.set_pipeline(request.spec().metadata().name());
  *run.mutable_spec() = request.spec();
  run.set_state(v1::Run::RUNNING);
  *run.mutable_created_at() = Now();
  *run.mutable_started_at() = run.created_at();
  run.set_no_cache(request.no_cache());
  run.set_trigger(trigger);
  auto add_step = [&](const v1::StepSpec& s, bool on_exit) {
    auto* e = run.add_steps();
    e->set_name(s.name());
    e->set_type(s.type());
    e->set_state(State::PENDING);
    e->set_on_exit(on_exit);
    e->set_idempotency_key(StrCat(run.id(), "/", s.name()));
  };
  for (const auto& s : request.spec().steps()) add_step(s, false);
  for (const auto& s : request.spec().on_exit()) add_step(s, true);
  auto active = std::make_unique<ActiveRun>(std::move(run));
  storage::WriteBatch b;
  if (!request.idempotency_key().empty()) {
    b.Put(kSubmitKeys, request.idempotency_key(), active->run.id());
  }
  auto started = events::EventLog::Make("run.started",
                                        {{"run", active->run.id()},
                                         {"pipeline", active->run.pipeline()},
                                         {"trigger", trigger}});
  if (auto s = PersistLocked(*active, std::move(b), {started}); !s.ok()) {
    return s;
  }
  Metrics::Get().runs.Add({{"state", "started"}}).Increment();
  ActiveRun& ref = *active;
  active_[ref.run.id()] = std::move(active);
  Metrics::Get().active_runs.Set(static_cast<double>(active_.size()));
  std::string id = ref.run.id();
  AdvanceLocked(ref);
  // The run is acknowledged only once durable. A run that ended inside
  // AdvanceLocked (e.g. fully cached) was synced with its end state; one fsync
  // serves both.
  if (active_.contains(id)) {
    if (auto s = store_->SyncWal(); !s.ok()) return s;
  }
  return CurrentLocked(id);
}

void Orchestrator::AdvanceAllLocked() {
  std::vector<std::string> ids;
  for (const auto& [id, run] : active_) ids.push_back(id);
  for (const auto& id : ids) {
    auto it = active_.find(id);
    if (it != active_.end()) AdvanceLocked(*it->second);
  }
}

void Orchestrator::AdvanceLocked(ActiveRun& run) {
  if (stopping_) return;
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
  SettleRunLocked(run);
  // Started only once their RUNNING state is stored.
  for (int i : to_dispatch) DispatchLocked(run, i);
  if (RunTerminal(run.run.state())) {
    std::string id = run.run.id();
    active_.erase(id);  // `run` is gone now.
    Metrics::Get().active_runs.Set(static_cast<double>(active_.size()));
  }
}

Orchestrator::Readiness Orchestrator::ReadinessLocked(ActiveRun& run, int index,
                                                      bool main_done,
                                                      absl::Time now) {
  v1::StepExecution& step = run.step(index);
  const v1::StepSpec& spec = *run.specs[index];
  if (step.has_next_attempt_at() && ToTime(step.next_attempt_at()) > now)
    return Readiness::kWait;
  if (step.on_exit() && !main_done) return Readiness::kWait;
  std::string bad_dep;
  for (const auto& a : spec.after()) {
    const auto& dep = run.step(run.index[a]);
    if (!Terminal(dep.state())) return Readiness::kWait;
    if (!Done(dep.state()) && bad_dep.empty()) bad_dep = a;
  }
  if (!step.on_exit() && !bad_dep.empty()) {
    step.set_state(State::SKIPPED);
    step.set_skip_reason(
        StrCat("upstream step '", bad_dep, "' is ",
               State::State_Name(run.step(run.index[bad_dep]).state())));
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
  const bool cacheable =
      exec->Cacheable(spec) && (!spec.has_cache() || spec.cache());
  if (!cacheable || !step.cache_key().empty()) return false;
  // --no-cache skips the lookup but still refreshes the entry.
  step.set_cache_key(CacheKey(run, index));
  auto hit =
      run.run.no_cache()
          ? absl::StatusOr<std::string>(absl::NotFoundError("no-cache run"))
          : store_->Get(kCache, step.cache_key());
  v1::StepExecution cached;
  if (!hit.ok() || !cached.ParseFromString(*hit)) {
    Metrics::Get().cache.Add({{"result", "miss"}}).Increment();
    return false;
  }
  Metrics::Get().cache.Add({{"result", "hit"}}).Increment();
  step.set_state(State::CACHED);
  *step.mutable_outputs() = cached.outputs();
  *step.mutable_results() = cached.results();
  *step.mutable_started_at() = Now();
  *step.mutable_finished_at() = step.started_at();
  metadata_.RecordExecution(run.run.id(), step, InputArtifacts(run, index),
                            &run.writes);
  return true;
}

void Orchestrator::SettleRunLocked(ActiveRun& run) {
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
  if (!run.dirty) return;
  // Step changes are not synced (they survive kill -9; the WAL is written).
  // The end of a run is, so its writes are flushed by the run that made
  // them rather than by whichever synced write comes next.
  auto s = PersistLocked(run, std::move(run.writes), std::move(run.events),
                         RunTerminal(run.run.state()));
  run.writes.Clear();
  run.events.clear();
  run.dirty = false;
  (void)s;  // A failed write leaves the previous state; the next change
            // retries.
}

void Orchestrator::DispatchLocked(ActiveRun& run, int index) {
  ++running_steps_;
  auto& cancel = run.cancel[index];
  cancel = std::make_shared<std::atomic<bool>>(false);
  const v1::StepSpec& spec = *run.specs[index];
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
  StepExecutor* exec = const_cast<StepExecutor*>(executors_->Find(spec.type()));
  std::string id = run.run.id();
  int attempt = step.attempt();
  pool_->Post([this, exec, ctx, spec_copy, cancel, id, index, attempt] {
    absl::StatusOr<StepResult> result = exec->Execute(*ctx);
    OnStepDone(id, index, attempt, std::move(result));
  });
}

void Orchestrator::OnStepDone(const std::string& run_id, int index, int attempt,
                              absl::StatusOr<StepResult> result) {
  std::lock_guard lock(mu_);
  if (stopping_) return;  // Stays RUNNING in the store; re-issued on restart.
  auto it = active_.find(run_id);
  if (it == active_.end()) return;
  ActiveRun& run = *it->second;
  v1::StepExecution& step = run.step(index);
  if (step.state() != State::RUNNING || step.attempt() != attempt)
    return;  // Stale.
  --running_steps_;
  FinishStepLocked(run, index, result.status(),
                   result.ok() ? &*result : nullptr);
  AdvanceAllLocked();
}

void Orchestrator::OnTimeout(const std::string& run_id, int index,
                             int attempt) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  auto it = active_.find(run_id);
  if (it == active_.end()) return;
  ActiveRun& run = *it->second;
  v1::StepExecution& step = run.step(index);
  if (step.state() != State::RUNNING || step.attempt() != attempt) return;
  run.cancel[index]->store(true);
  --running_steps_;
  FinishStepLocked(
      run, index,
      absl::DeadlineExceededError(StrCat(
          "step timed out after ", run.specs[index]->timeout_seconds(), " s")),
      nullptr);
  AdvanceAllLocked();
}

void Orchestrator::FinishStepLocked(ActiveRun& run, int index,
                                    absl::Status status, StepResult* result) {
  v1::StepExecution& step = run.step(index);
  const v1::StepSpec& spec = *run.specs[index];
  *step.mutable_finished_at() = Now();
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
      if (it != active_.end()) AdvanceLocked(*it->second);
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
  v1::Run header = run.run;
  header.clear_spec();
  header.clear_steps();
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
  for (const auto& a : run.specs[index]->after()) {
    for (const auto& [name, artifact] :
         run.run.steps(run.index.at(a)).outputs()) {
      ids.push_back(artifact.id());
    }
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::string Orchestrator::CacheKey(const ActiveRun& run, int index) const {
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
  for (const auto& id : InputArtifacts(run, index)) part(id);
  return h.HexDigest();
}

absl::StatusOr<v1::Run> Orchestrator::GetRun(const std::string& id) const {
  std::lock_guard lock(mu_);
  return CurrentLocked(id);
}

absl::StatusOr<v1::Run> Orchestrator::CurrentLocked(
    const std::string& id) const {
  auto it = active_.find(id);
  if (it != active_.end()) return it->second->run;
  return LoadRun(id, /*with_spec=*/true);
}

absl::StatusOr<v1::Run> Orchestrator::LoadRun(const std::string& id,
                                              bool with_spec) const {
  auto raw = store_->Get(kRuns, id);
  if (!raw.ok()) {
    if (raw.status().code() == absl::StatusCode::kNotFound) {
      return absl::NotFoundError(StrCat("run '", id, "' not found"));
    }
    return raw.status();
  }
  v1::Run run;
  if (!run.ParseFromString(*raw)) {
    return absl::DataLossError(StrCat("run '", id, "' is corrupt"));
  }
  if (with_spec) {
    auto spec = store_->Get(kRunSpecs, id);
    if (!spec.ok() || !run.mutable_spec()->ParseFromString(*spec)) {
      return absl::DataLossError(
          StrCat("run '", id, "': spec is missing or corrupt"));
    }
  }
  for (auto st = store_->Scan(kRunSteps, id + "/"); st->Valid(); st->Next()) {
    if (!run.add_steps()->ParseFromArray(
            st->value().data(), static_cast<int>(st->value().size()))) {
      return absl::DataLossError(StrCat("run '", id, "': a step is corrupt"));
    }
  }
  return run;
}

absl::StatusOr<std::vector<v1::Run>> Orchestrator::ListRuns(
    const std::string& pipeline, int limit) const {
  if (limit <= 0) limit = 50;
  std::vector<v1::Run> runs;
  for (auto it = store_->Scan(kRuns, ""); it->Valid(); it->Next()) {
    v1::Run run;
    if (!run.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size())))
      continue;
    if (!pipeline.empty() && run.pipeline() != pipeline) continue;
    runs.push_back(std::move(run));
  }
  std::sort(runs.begin(), runs.end(), [](const v1::Run& a, const v1::Run& b) {
    return TimeUtil::TimestampToMicroseconds(a.created_at()) >
           TimeUtil::TimestampToMicroseconds(b.created_at());
  });
  if (runs.size() > static_cast<size_t>(limit)) runs.resize(limit);
  // With steps, without specs: lists stay small; GetRun has the spec.
  for (auto& run : runs) {
    auto full = LoadRun(run.id(), /*with_spec=*/false);
    if (full.ok()) run = std::move(*full);
  }
  return runs;
}

absl::StatusOr<v1::Run> Orchestrator::CancelRun(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = active_.find(id);
  if (it == active_.end()) {
    if (store_->Get(kRuns, id).ok()) {
      return absl::FailedPreconditionError(
          StrCat("run '", id, "' has already ended"));
    }
    return absl::NotFoundError(StrCat("run '", id, "' not found"));
  }
  ActiveRun& run = *it->second;
  run.run.set_cancel_requested(true);
  for (int i = 0; i < run.run.steps_size(); ++i) {
    if (!run.step(i).on_exit()) run.cancel[i]->store(true);
    // A step waiting to retry will not get another attempt.
    if (run.step(i).state() == State::PENDING && run.step(i).attempt() > 0 &&
        !run.step(i).on_exit()) {
      run.step(i).set_state(State::CANCELLED);
    }
  }
  run.dirty = true;
  AdvanceLocked(run);
  return CurrentLocked(id);
}

absl::StatusOr<v1::Run> Orchestrator::ResumeRun(const std::string& id) {
  auto run = GetRun(id);
  if (!run.ok()) return run.status();
  if (run->state() != v1::Run::FAILED && run->state() != v1::Run::CANCELLED) {
    return absl::FailedPreconditionError(
        StrCat("run '", id, "' is ", v1::Run::State_Name(run->state()),
               "; only FAILED or CANCELLED runs can be resumed"));
  }
  std::lock_guard lock(mu_);
  if (stopping_ || !pool_)
    return absl::UnavailableError("orchestrator is not running");
  if (active_.contains(id))
    return absl::FailedPreconditionError("run is already active");
  run->set_state(v1::Run::RUNNING);
  run->set_cancel_requested(false);
  run->clear_finished_at();
  for (auto& s : *run->mutable_steps()) {
    if (Done(s.state())) continue;
    s.set_state(State::PENDING);
    s.set_attempt(0);
    s.clear_error();
    s.set_error_code(0);
    s.clear_skip_reason();
    s.clear_next_attempt_at();
    s.clear_cache_key();
  }
  auto active = std::make_unique<ActiveRun>(std::move(*run));
  active->events.push_back(events::EventLog::Make(
      "run.resumed", {{"run", id}, {"pipeline", active->run.pipeline()}}));
  active->dirty = true;
  ActiveRun& ref = *active;
  active_[id] = std::move(active);
  AdvanceLocked(ref);
  return CurrentLocked(id);
}

int Orchestrator::AddRunListener(std::function<void(const v1::Run&)> fn) {
  std::lock_guard lock(mu_);
  int id = next_listener_++;
  listeners_[id] = std::move(fn);
  return id;
}

void Orchestrator::RemoveRunListener(int id) {
  std::lock_guard lock(mu_);
  listeners_.erase(id);
}

absl::StatusOr<std::vector<v1::Schedule>> Orchestrator::CreateSchedules(
    const v1::PipelineSpec& spec) {
  if (auto s = ValidateSpec(spec); !s.ok()) return s;
  if (spec.triggers_size() == 0) {
    return absl::InvalidArgumentError(
        StrCat(config::Where(spec, 1),
               ": spec.triggers: the pipeline has no triggers"));
  }
  std::vector<v1::Schedule> out;
  storage::WriteBatch b;
  absl::Time now = absl::Now();
  for (const auto& t : spec.triggers()) {
    std::string at = config::Where(spec, t.line());
    v1::Schedule sched;
    sched.set_id(NewId("s"));
    *sched.mutable_spec() = spec;
    *sched.mutable_trigger() = t;
    *sched.mutable_created_at() = Now();
    if (t.has_event()) {
      if (t.event().source().empty()) {
        std::string owner = DefaultSource(t.event().topic());
        if (owner.empty()) {
          return absl::InvalidArgumentError(
              StrCat(at, ": triggers.event.source: required for topic '",
                     t.event().topic(), "'"));
        }
        sched.mutable_trigger()->mutable_event()->set_source(owner);
      }
    } else {
      auto cron = CronSchedule::Parse(t.schedule());
      if (!cron.ok())
        return absl::InvalidArgumentError(
            StrCat(at, ": triggers.", cron.status().message()));
      auto tz = ZoneOf(t);
      if (!tz.ok())
        return absl::InvalidArgumentError(
            StrCat(at, ": triggers.", tz.status().message()));
      *sched.mutable_next_fire_at() = TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(cron->Next(now, *tz)));
    }
    b.Put(kSchedules, sched.id(), sched.SerializeAsString());
    out.push_back(std::move(sched));
  }
  std::lock_guard lock(schedules_mu_);
  if (auto s = store_->Write(b, {.sync = true}); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::Schedule>> Orchestrator::ListSchedules() const {
  std::vector<v1::Schedule> out;
  for (auto it = store_->Scan(kSchedules, ""); it->Valid(); it->Next()) {
    v1::Schedule s;
    if (!s.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          StrCat("schedule '", it->key(), "' is corrupt"));
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status Orchestrator::DeleteSchedule(const std::string& id) {
  std::lock_guard lock(schedules_mu_);
  if (!store_->Get(kSchedules, id).ok()) {
    return absl::NotFoundError(StrCat("schedule '", id, "' not found"));
  }
  storage::WriteBatch b;
  b.Delete(kSchedules, id);
  return store_->Write(b, {.sync = true});
}

int Orchestrator::Tick(absl::Time now) {
  std::lock_guard lock(schedules_mu_);
  auto all = ListSchedules();
  if (!all.ok()) return 0;
  int started = 0;
  for (auto& sched : *all) {
    if (sched.trigger().has_event() || !sched.has_next_fire_at()) continue;
    absl::Time due = ToTime(sched.next_fire_at());
    if (due > now) continue;
    auto cron = CronSchedule::Parse(sched.trigger().schedule());
    auto tz = ZoneOf(sched.trigger());
    if (!cron.ok() || !tz.ok()) continue;
    v1::SubmitRunRequest req;
    *req.mutable_spec() = sched.spec();
    // One run per due time, even if this tick is repeated after a crash.
    req.set_idempotency_key(
        StrCat("schedule:", sched.id(), "@", absl::ToUnixMicros(due)));
    if (SubmitRun(req, StrCat("schedule:", sched.id())).ok()) ++started;
    *sched.mutable_last_fired_at() = sched.next_fire_at();
    *sched.mutable_next_fire_at() = TimeUtil::MicrosecondsToTimestamp(
        absl::ToUnixMicros(cron->Next(now, *tz)));
    (void)store_->Put(kSchedules, sched.id(), sched.SerializeAsString(),
                      {.sync = true});
  }
  return started;
}

absl::Status Orchestrator::HandleEvent(const std::string& source,
                                       const v1::Event& event) {
  std::lock_guard lock(schedules_mu_);
  if (event.sequence() <= EventCursor(source)) return absl::OkStatus();
  auto all = ListSchedules();
  if (!all.ok()) return all.status();
  for (const auto& sched : *all) {
    if (!sched.trigger().has_event()) continue;
    const auto& e = sched.trigger().event();
    if (e.source() != source || e.topic() != event.topic()) continue;
    bool match = true;
    for (const auto& [k, v] : e.filter()) {
      auto it = event.attributes().find(k);
      match &= it != event.attributes().end() && it->second == v;
    }
    if (!match) continue;
    v1::SubmitRunRequest req;
    *req.mutable_spec() = sched.spec();
    req.set_idempotency_key(
        StrCat("event:", source, "#", event.sequence(), ":", sched.id()));
    auto run =
        SubmitRun(req, StrCat("event:", event.topic(), "#", event.sequence()));
    // Unavailable: try the event again later. Anything else would fail again.
    if (!run.ok() && run.status().code() == absl::StatusCode::kUnavailable)
      return run.status();
  }
  std::string seq;
  storage::AppendU64(&seq, event.sequence());
  return store_->Put(kCursors, source, seq, {.sync = true});
}

uint64_t Orchestrator::EventCursor(const std::string& source) const {
  auto raw = store_->Get(kCursors, source);
  return raw.ok() && raw->size() == 8 ? storage::DecodeU64(*raw) : 0;
}

std::set<std::string> Orchestrator::EventSources() const {
  std::set<std::string> out;
  auto all = ListSchedules();
  if (!all.ok()) return out;
  for (const auto& s : *all) {
    if (s.trigger().has_event()) out.insert(s.trigger().event().source());
  }
  return out;
}

}  // namespace mlpipe::orchestrator
