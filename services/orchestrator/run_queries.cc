// Reading, listing, cancelling and resuming runs.
#include <algorithm>

#include "absl/time/clock.h"
#include "common/util/strings.h"
#include "services/orchestrator/orchestrator.h"
#include "services/orchestrator/orchestrator_internal.h"

namespace mlpipe::orchestrator {

using google::protobuf::util::TimeUtil;

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
  // A failed write leaves the stored state; the next change retries.
  AdvanceLocked(run).IgnoreError();
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
  active->spec_stored = true;  // Read from the store.
  ActiveRun& ref = *active;
  active_[id] = std::move(active);
  AdvanceLocked(ref).IgnoreError();  // As CancelRun's.
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

}  // namespace mlpipe::orchestrator
