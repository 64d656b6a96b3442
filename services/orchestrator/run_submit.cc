// Submitting a run: the pipeline checked (steps, parameters, `when:`, columns)
// with file:line, then stored and started.
#include <algorithm>

#include "absl/time/clock.h"
#include "common/config/pipeline_config.h"
#include "common/util/ids.h"
#include "common/util/strings.h"
#include "services/orchestrator/conditions.h"
#include "services/orchestrator/orchestrator.h"
#include "services/orchestrator/orchestrator_internal.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::util::TimeUtil;

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

// The names, comma-separated, cut after about 400 characters (", ...").
std::string Listed(const std::set<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (out.size() > 400) {
      out += ", ...";
      break;
    }
    StrAppend(&out, out.empty() ? "" : ", ", n);
  }
  return out;
}

// file:line of one of spec's own keys ("label").
std::string SpecWhere(const v1::PipelineSpec& spec, const std::string& key) {
  auto it = spec.field_lines().find(key);
  return config::Where(spec, it == spec.field_lines().end() ? 1 : it->second);
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
    const std::string known = Listed(*cols);
    return absl::InvalidArgumentError(StrCat(
        where, ": ", field, ": column '", column, "' is not in dataset '",
        dataset, "' (its columns: ", known, ")"));
  };
  if (!spec.label().empty()) {
    if (auto s = check(spec.dataset(), spec.label(), SpecWhere(spec, "label"),
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

// A binary task's positive class is one of its label's values: checked for
// the pipeline's own label and for a train step that names its own.
absl::Status Orchestrator::CheckPositiveClass(
    const v1::PipelineSpec& spec) const {
  if (!options_.column_values) return absl::OkStatus();
  auto check = [&](const std::string& dataset, const std::string& label,
                   const std::string& value, const std::string& where,
                   const std::string& field) {
    if (dataset.empty() || label.empty() || value.empty())
      return absl::OkStatus();
    auto values = options_.column_values(dataset, label);
    // Unreadable, or a continuous label: checked when the step runs.
    if (!values.ok() || !values->has_value() || (*values)->contains(value))
      return absl::OkStatus();
    const std::string known = Listed(**values);
    return absl::InvalidArgumentError(StrCat(
        where, ": ", field, ": '", value, "' is not a value of label '", label,
        "' in dataset '", dataset, "' (its values: ", known, ")"));
  };
  if (auto s = check(spec.dataset(), spec.label(), spec.positive_class(),
                     SpecWhere(spec, "positive_class"), "spec.positive_class");
      !s.ok())
    return s;
  for (const auto& step : spec.steps()) {
    if (step.type() != "train") continue;
    const auto& f = step.params().fields();
    auto text = [&](const char* key, const std::string& otherwise) {
      auto it = f.find(key);
      return it == f.end() ? otherwise : it->second.string_value();
    };
    const std::string own = text("positive_class", "");
    if (own.empty()) continue;
    const std::string field = StrCat("steps.", step.name(), ".positive_class");
    if (auto s = check(StepDataset(spec, step), text("label", spec.label()),
                       own, WhereIn(spec, step, field), field);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::Status Orchestrator::ValidateSpec(const v1::PipelineSpec& spec) const {
  if (auto s = config::ValidateDag(spec); !s.ok()) return s;
  if (!IsValidName(spec.metadata().name())) {
    return absl::InvalidArgumentError(StrCat(
        config::Where(spec, 1), ": metadata.name: required, a valid name"));
  }
  std::map<std::string, const v1::StepSpec*> by_name;
  for (const auto& s : spec.steps()) by_name[s.name()] = &s;
  for (const auto& s : spec.on_exit()) by_name[s.name()] = &s;
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
      const std::set<std::string> up = Ancestors(spec, *step);
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
    if (auto s = CheckPositiveClass(request.spec()); !s.ok()) return s;
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
  // Stored with the first settling (steps served from the cache, states of
  // the steps that start): one write, before any step starts.
  if (!request.idempotency_key().empty()) {
    active->writes.Put(kSubmitKeys, request.idempotency_key(),
                       active->run.id());
  }
  active->events.push_back(events::EventLog::Make(
      "run.started", {{"run", active->run.id()},
                      {"pipeline", active->run.pipeline()},
                      {"trigger", trigger}}));
  active->dirty = true;
  ActiveRun& ref = *active;
  std::string id = ref.run.id();
  active_[id] = std::move(active);
  absl::Status stored = AdvanceLocked(ref);
  if (!stored.ok() && active_.contains(id) && !ref.spec_stored) {
    active_.erase(id);  // Never stored, nothing started: as if not submitted.
    return stored;
  }
  Metrics::Get().runs.Add({{"state", "started"}}).Increment();
  Metrics::Get().active_runs.Set(static_cast<double>(active_.size()));
  // The run is acknowledged only once durable. A run that ended inside
  // AdvanceLocked (e.g. fully cached) was synced with its end state; one fsync
  // serves both.
  if (active_.contains(id)) {
    if (auto s = store_->SyncWal(); !s.ok()) return s;
  }
  return CurrentLocked(id);
}

}  // namespace mlpipe::orchestrator
