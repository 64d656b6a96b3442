// What the orchestrator's files share: its column families, step and run
// states, metrics and a run in progress. Internal to services/orchestrator.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_INTERNAL_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_INTERNAL_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/metrics/metrics.h"
#include "common/storage/key_codec.h"
#include "google/protobuf/util/time_util.h"
#include "services/orchestrator/orchestrator.h"

namespace mlpipe::orchestrator {

using State = v1::StepState;

// A run is stored as a header (the Run without spec and steps), its spec
// (written once) and one record per step, so a step change writes only that
// step instead of the whole run.
inline constexpr char kRuns[] = "runs";
inline constexpr char kRunSpecs[] = "run_specs";
inline constexpr char kRunSteps[] = "run_steps";

inline std::string StepKey(const std::string& run_id, int index) {
  std::string k = run_id + "/";
  storage::AppendU32(&k, static_cast<uint32_t>(index));
  return k;
}
inline constexpr char kCache[] = "cache";
inline constexpr char kSubmitKeys[] = "submit_keys";
inline constexpr char kSchedules[] = "schedules";
inline constexpr char kCursors[] = "cursors";

inline google::protobuf::Timestamp Now() {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
      absl::ToUnixMicros(absl::Now()));
}
inline absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(
      google::protobuf::util::TimeUtil::TimestampToMicroseconds(t));
}

inline bool Terminal(State::State s) {
  return s == State::SUCCEEDED || s == State::FAILED || s == State::SKIPPED ||
         s == State::CACHED || s == State::CANCELLED;
}
inline bool Done(State::State s) {
  return s == State::SUCCEEDED || s == State::CACHED;
}
inline bool RunTerminal(v1::Run::State s) {
  return s == v1::Run::SUCCEEDED || s == v1::Run::FAILED ||
         s == v1::Run::CANCELLED;
}

struct Metrics {
  prometheus::Family<prometheus::Counter>& runs;
  prometheus::Family<prometheus::Histogram>& step_seconds;
  prometheus::Family<prometheus::Counter>& cache;
  prometheus::Counter& retries;
  prometheus::Gauge& active_runs;
  // cache's two series, resolved once (Add hashes its labels each call).
  prometheus::Counter& cache_hit = cache.Add({{"result", "hit"}});
  prometheus::Counter& cache_miss = cache.Add({{"result", "miss"}});

  static Metrics& Get();
};

bool IsStatusCodeName(const std::string& name);

struct Orchestrator::ActiveRun {
  v1::Run run;
  // Parallel to run.steps(); point into run.spec.
  std::vector<const v1::StepSpec*> specs;
  // Parallel to specs: the indices of each step's `after` steps.
  std::vector<std::vector<int>> deps;
  std::vector<std::shared_ptr<std::atomic<bool>>> cancel;
  // Lineage and cache entries to persist with the run.
  storage::WriteBatch writes;
  std::vector<std::string> stored_steps;  // Each step as last stored.
  bool spec_stored = false;
  std::vector<v1::Event> events;
  bool dirty = false;
  // Parallel to specs: when each step's progress was last stored, and
  // whether a store of a newer report is scheduled.
  std::vector<absl::Time> progress_stored;
  std::vector<bool> progress_due;

  explicit ActiveRun(v1::Run r) : run(std::move(r)) {
    for (auto& s : *run.mutable_spec()->mutable_steps()) specs.push_back(&s);
    for (auto& s : *run.mutable_spec()->mutable_on_exit()) specs.push_back(&s);
    std::map<std::string, int> index;
    for (size_t i = 0; i < specs.size(); ++i) {
      index[specs[i]->name()] = static_cast<int>(i);
      cancel.push_back(std::make_shared<std::atomic<bool>>(false));
    }
    deps.resize(specs.size());
    progress_stored.resize(specs.size(), absl::InfinitePast());
    progress_due.resize(specs.size(), false);
    for (size_t i = 0; i < specs.size(); ++i) {
      for (const auto& a : specs[i]->after()) {
        // Always found: ValidateDag refuses a spec naming an unknown step.
        if (auto it = index.find(a); it != index.end())
          deps[i].push_back(it->second);
      }
    }
  }
  v1::StepExecution& step(int i) { return *run.mutable_steps(i); }
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_ORCHESTRATOR_INTERNAL_H_
