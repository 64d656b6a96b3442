#include "services/orchestrator/executor.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"

namespace mlpipe::orchestrator {

bool StepContext::SleepFor(absl::Duration d) const {
  const absl::Time wake = absl::Now() + d;
  while (true) {
    absl::Time now = absl::Now();
    if (Cancelled() || now >= deadline) return false;
    if (now >= wake) return true;
    absl::SleepFor(
        std::min({absl::Milliseconds(10), wake - now, deadline - now}));
  }
}

absl::Status StepContext::CheckAlive() const {
  if (Cancelled()) return absl::CancelledError("step cancelled");
  if (absl::Now() >= deadline) {
    return absl::DeadlineExceededError(
        StrCat("step '", step->name(), "' ran past its timeout"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> StepContext::StringParam(
    const std::string& name, const std::string& def) const {
  const auto& f = step->params().fields();
  auto it = f.find(name);
  if (it == f.end()) return def;
  if (it->second.kind_case() == google::protobuf::Value::kStringValue) {
    return it->second.string_value();
  }
  return absl::InvalidArgumentError(
      StrCat("steps.", step->name(), ".", name, ": expected a string"));
}

absl::StatusOr<double> StepContext::NumberParam(const std::string& name,
                                                double def) const {
  const auto& f = step->params().fields();
  auto it = f.find(name);
  if (it == f.end()) return def;
  if (it->second.kind_case() == google::protobuf::Value::kNumberValue) {
    return it->second.number_value();
  }
  return absl::InvalidArgumentError(
      StrCat("steps.", step->name(), ".", name, ": expected a number"));
}

std::string StepDataset(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) {
  auto it = step.params().fields().find("dataset");
  return it == step.params().fields().end() ? spec.dataset()
                                            : it->second.string_value();
}

namespace {

void AddColumns(const google::protobuf::Value& v, const std::string& path,
                std::vector<ColumnRef>* out) {
  if (v.kind_case() == google::protobuf::Value::kStringValue) {
    out->push_back({path, v.string_value()});
  } else if (v.kind_case() == google::protobuf::Value::kListValue) {
    const auto& items = v.list_value().values();
    for (int i = 0; i < items.size(); ++i)
      AddColumns(items[i], StrCat(path, "[", i, "]"), out);
  } else if (v.kind_case() == google::protobuf::Value::kStructValue) {
    // A mapping naming columns: {column: A} or {columns: [A, B]}.
    const auto& fields = v.struct_value().fields();
    for (const char* key : {"column", "columns"}) {
      if (auto it = fields.find(key); it != fields.end())
        AddColumns(it->second, StrCat(path, ".", key), out);
    }
  }
}

}  // namespace

std::vector<ColumnRef> ColumnParams(const v1::StepSpec& step,
                                    const std::vector<std::string>& keys,
                                    const std::string& list,
                                    const std::string& nested) {
  std::vector<ColumnRef> out;
  const auto& params = step.params().fields();
  for (const auto& key : keys) {
    if (auto it = params.find(key); it != params.end())
      AddColumns(it->second, key, &out);
  }
  auto it = params.find(list);
  if (list.empty() || it == params.end() ||
      it->second.kind_case() != google::protobuf::Value::kListValue)
    return out;
  const auto& items = it->second.list_value().values();
  for (int i = 0; i < items.size(); ++i) {
    if (items[i].kind_case() != google::protobuf::Value::kStructValue) continue;
    const auto& fields = items[i].struct_value().fields();
    if (auto f = fields.find(nested); f != fields.end())
      AddColumns(f->second, StrCat(list, "[", i, "].", nested), &out);
  }
  return out;
}

absl::Status BadParam(const v1::StepSpec& step, std::string_view key,
                      std::string_view why) {
  return absl::InvalidArgumentError(
      StrCat("steps.", step.name(), ".", key, ": ", why));
}

absl::Status InStep(const v1::StepSpec& step, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(),
                      StrCat("steps.", step.name(), ".", status.message()));
}

absl::Status RequireAfter(const v1::StepSpec& step, std::string_view key,
                          const std::string& upstream, std::string_view what) {
  const auto& after = step.after();
  if (std::find(after.begin(), after.end(), upstream) != after.end())
    return absl::OkStatus();
  return BadParam(
      step, key, StrCat("'", upstream, "' must be ", what, " listed in after"));
}

int64_t UpstreamVersion(const StepContext& ctx, const std::string& dataset) {
  int64_t version = 0;
  for (const auto& [name, up] : ctx.upstream) {
    const auto& r = up.results().fields();
    auto d = r.find("dataset"), v = r.find("version");
    if (d != r.end() && v != r.end() && d->second.string_value() == dataset) {
      version = std::max<int64_t>(
          version, static_cast<int64_t>(v->second.number_value()));
    }
  }
  return version;
}

std::set<std::string> Ancestors(const v1::PipelineSpec& spec,
                                const v1::StepSpec& step) {
  std::map<std::string, const v1::StepSpec*> by_name;
  for (const auto& s : spec.steps()) by_name[s.name()] = &s;
  for (const auto& s : spec.on_exit()) by_name[s.name()] = &s;
  std::set<std::string> out;
  std::vector<const v1::StepSpec*> todo = {&step};
  while (!todo.empty()) {
    const v1::StepSpec* s = todo.back();
    todo.pop_back();
    for (const auto& a : s->after()) {
      auto it = by_name.find(a);
      if (it == by_name.end() || !out.insert(a).second) continue;
      todo.push_back(it->second);
    }
  }
  return out;
}

absl::StatusOr<std::string> UpstreamStep(const v1::PipelineSpec& spec,
                                         const v1::StepSpec& step,
                                         const std::string& param,
                                         const std::string& type) {
  const std::set<std::string> ancestors = Ancestors(spec, step);
  std::set<std::string> of_type;
  for (const auto* steps : {&spec.steps(), &spec.on_exit()})
    for (const auto& s : *steps)
      if (s.type() == type && ancestors.contains(s.name()))
        of_type.insert(s.name());
  const auto& f = step.params().fields();
  if (auto it = f.find(param); it != f.end()) {
    const std::string& named = it->second.string_value();
    if (of_type.contains(named)) return named;
    return BadParam(step, param,
                    StrCat("'", named, "' must be a step of type '", type,
                           "' that this step comes after (after:)"));
  }
  if (of_type.size() > 1) {
    return BadParam(
        step, param,
        StrCat("steps ", absl::StrJoin(of_type, ", "), " are all of type '",
               type, "' and come before this one: name one"));
  }
  return of_type.empty() ? std::string() : *of_type.begin();
}

absl::StatusOr<std::string> UpstreamOutput(const StepContext& ctx,
                                           const std::string& param,
                                           const std::string& type,
                                           const std::string& key) {
  auto name = UpstreamStep(*ctx.spec, *ctx.step, param, type);
  if (!name.ok() || name->empty()) return name;
  std::string id = UpstreamResult(ctx, *name, key);
  if (id.empty() && ctx.step->params().fields().contains(param)) {
    return BadParam(*ctx.step, param,
                    StrCat("step '", *name, "' produced no ", key));
  }
  return id;
}

std::string UpstreamResult(const StepContext& ctx, const std::string& step,
                           const std::string& key) {
  auto it = ctx.upstream.find(step);
  if (it == ctx.upstream.end()) return "";
  const auto& r = it->second.results().fields();
  auto v = r.find(key);
  return v == r.end() ? "" : v->second.string_value();
}

absl::Status CheckParams(
    const v1::StepSpec& step,
    const std::map<std::string, google::protobuf::Value::KindCase>& known) {
  using Kind = google::protobuf::Value::KindCase;
  for (const auto& [name, value] : step.params().fields()) {
    auto it = known.find(name);
    if (it == known.end()) {
      std::string names;
      for (const auto& [k, v] : known) {
        StrAppend(&names, names.empty() ? "" : ", ", k);
      }
      return absl::InvalidArgumentError(StrCat(
          "steps.", step.name(), ".", name, ": unknown parameter for type '",
          step.type(), "' (known: ", names, ")"));
    }
    if (value.kind_case() != it->second) {
      const char* kind = it->second == Kind::kNumberValue   ? "a number"
                         : it->second == Kind::kBoolValue   ? "true or false"
                         : it->second == Kind::kListValue   ? "a list"
                         : it->second == Kind::kStructValue ? "a map"
                                                            : "a string";
      return absl::InvalidArgumentError(
          StrCat("steps.", step.name(), ".", name, ": expected ", kind));
    }
  }
  return absl::OkStatus();
}

absl::Status ParamsToRequest(const v1::StepSpec& step,
                             const config::ParamMapping& mapping,
                             google::protobuf::Message* out) {
  return config::ParamsToMessage(step.params(), mapping,
                                 StrCat("steps.", step.name()), out);
}

namespace {

using K = google::protobuf::Value::KindCase;

class SleepExecutor final : public StepExecutor {
 public:
  std::string version() const override { return "1"; }
  absl::Status Validate(const v1::PipelineSpec&,
                        const v1::StepSpec& step) const override {
    return CheckParams(step, {{"seconds", K::kNumberValue}});
  }
  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    auto secs = ctx.NumberParam("seconds", 0);
    if (!secs.ok()) return secs.status();
    // Reports progress in tenths of the time, as a service's operation does.
    const int64_t total_ms = static_cast<int64_t>(*secs * 1000);
    for (int tenth = 0; tenth < 10; ++tenth) {
      v1::Operation::Progress p;
      p.set_done(tenth * total_ms / 10);
      p.set_total(total_ms);
      p.set_fraction(tenth / 10.0);
      p.set_message("ms slept");
      ctx.ReportProgress(p);
      if (!ctx.SleepFor(absl::Milliseconds(total_ms / 10))) break;
    }
    if (auto s = ctx.CheckAlive(); !s.ok()) return s;
    StepResult r;
    (*r.results.mutable_fields())["slept"].set_number_value(*secs);
    return r;
  }
};

class FailExecutor final : public StepExecutor {
 public:
  std::string version() const override { return "1"; }
  absl::Status Validate(const v1::PipelineSpec&,
                        const v1::StepSpec& step) const override {
    return CheckParams(step, {{"times", K::kNumberValue},
                              {"code", K::kStringValue},
                              {"unless_file", K::kStringValue}});
  }
  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    auto times = ctx.NumberParam("times", 1e9);
    auto code = ctx.StringParam("code", "UNAVAILABLE");
    auto unless = ctx.StringParam("unless_file", "");
    if (!times.ok()) return times.status();
    if (!code.ok()) return code.status();
    if (!unless.ok()) return unless.status();
    bool fail = unless->empty() ? ctx.attempt <= *times
                                : !std::ifstream(*unless).good();
    if (fail) {
      absl::StatusCode c = absl::StatusCode::kUnavailable;
      if (*code == "INVALID_ARGUMENT") c = absl::StatusCode::kInvalidArgument;
      if (*code == "INTERNAL") c = absl::StatusCode::kInternal;
      if (*code == "FAILED_PRECONDITION")
        c = absl::StatusCode::kFailedPrecondition;
      return absl::Status(
          c, StrCat("failing on purpose (attempt ", ctx.attempt, ")"));
    }
    StepResult r;
    (*r.results.mutable_fields())["attempts"].set_number_value(ctx.attempt);
    return r;
  }
};

// Appends "<idempotency key> <value>" to a file unless a line with the key is
// already there: a stand-in for a service that deduplicates by key.
class RecordExecutor final : public StepExecutor {
 public:
  std::string version() const override { return "1"; }
  absl::Status Validate(const v1::PipelineSpec&,
                        const v1::StepSpec& step) const override {
    if (!step.params().fields().contains("file")) {
      return absl::InvalidArgumentError(
          StrCat("steps.", step.name(), ".file: required"));
    }
    return CheckParams(step, {{"file", K::kStringValue},
                              {"value", K::kStringValue},
                              {"sleep_seconds", K::kNumberValue}});
  }
  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    auto file = ctx.StringParam("file", "");
    auto value = ctx.StringParam("value", "");
    auto sleep = ctx.NumberParam("sleep_seconds", 0);
    if (!file.ok()) return file.status();
    if (!value.ok()) return value.status();
    if (!sleep.ok()) return sleep.status();
    ctx.SleepFor(absl::Seconds(*sleep));
    if (auto s = ctx.CheckAlive(); !s.ok()) return s;
    std::ifstream in(*file);
    std::string line;
    bool seen = false;
    while (std::getline(in, line))
      seen |= line.starts_with(ctx.idempotency_key + " ");
    if (!seen) {
      std::ofstream out(*file, std::ios::app);
      out << ctx.idempotency_key << " " << *value << "\n";
      out.flush();
      if (!out)
        return absl::UnavailableError(StrCat("cannot append to ", *file));
    }
    StepResult r;
    v1::Artifact a;
    a.set_id(StrCat("record:", ctx.idempotency_key));
    a.set_type("record");
    r.outputs["record"] = a;
    (*r.results.mutable_fields())["value"].set_string_value(*value);
    return r;
  }
};

// Does nothing; its output id is derived from its value (or name) and its
// inputs, so identical work yields the same artifact in every run.
class NoopExecutor final : public StepExecutor {
 public:
  std::string version() const override { return "2"; }
  absl::Status Validate(const v1::PipelineSpec&,
                        const v1::StepSpec& step) const override {
    return CheckParams(step, {{"value", K::kStringValue}});
  }
  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    auto value = ctx.StringParam("value", ctx.step->name());
    if (!value.ok()) return value.status();
    std::vector<std::string> inputs;
    for (const auto& dep : ctx.step->after()) {
      auto it = ctx.upstream.find(dep);
      if (it == ctx.upstream.end()) continue;
      for (const auto& [name, a] : it->second.outputs())
        inputs.push_back(a.id());
    }
    std::sort(inputs.begin(), inputs.end());
    Sha256 h;
    for (const auto& id : inputs) h.Update(id + "\n");
    StepResult r;
    v1::Artifact a;
    a.set_id(StrCat("noop:", *value, "@", h.HexDigest().substr(7, 12)));
    a.set_type("noop");
    r.outputs["out"] = a;
    return r;
  }
};

}  // namespace

void RegisterTestExecutors(ExecutorRegistry* registry) {
  registry->Register("sleep", std::make_unique<SleepExecutor>());
  registry->Register("fail", std::make_unique<FailExecutor>());
  registry->Register("record", std::make_unique<RecordExecutor>());
  registry->Register("noop", std::make_unique<NoopExecutor>());
}

}  // namespace mlpipe::orchestrator
