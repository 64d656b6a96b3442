#include "services/orchestrator/eval_steps.h"

#include <set>

#include "absl/strings/str_split.h"
#include "clients/evaluate_request.h"
#include "clients/registry_client.h"
#include "clients/routes.h"
#include "common/eval/metrics.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/evaluate_service.grpc.pb.h"
#include "services/orchestrator/operation_step.h"

namespace mlpipe::orchestrator {
namespace {

using K = google::protobuf::Value::KindCase;
using google::protobuf::Value;

class EvaluateExecutor final : public StepExecutor {
 public:
  EvaluateExecutor(ChannelProvider evaluate, ChannelProvider aliases)
      : evaluate_(std::move(evaluate)), aliases_(std::move(aliases)) {}
  std::string version() const override { return "1"; }
  std::vector<std::string> ResultNames(
      const v1::StepSpec& step) const override {
    std::vector<std::string> out = {"evaluation", "best_model", "blessed",
                                    "baseline",   "metric",     "improvement"};
    for (v1::Task task : {v1::BINARY, v1::MULTICLASS, v1::REGRESSION})
      for (const auto& m : eval::MetricsFor(task)) out.push_back(m);
    return out;
  }

  std::vector<ColumnRef> Columns(const v1::StepSpec& step) const override {
    return ColumnParams(step, {"slices"});
  }

  absl::Status Validate(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) const override {
    std::string alias;
    auto req = Request(step, &alias);
    if (!req.ok()) return req.status();
    if (req->models().empty()) {
      auto train = UpstreamStep(spec, step, "train", "train");
      if (!train.ok()) return train.status();
      if (train->empty()) {
        return BadParam(step, "models",
                        "none given, and no train step comes before this one "
                        "(after:) to make them");
      }
      req->add_models("-");  // Resolved when the step runs.
    }
    if (auto s = evaluate::CheckRequest(*req); !s.ok()) return InStep(step, s);
    return absl::OkStatus();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    const v1::StepSpec& step = *ctx.step;
    std::string alias;
    auto req = Request(step, &alias);
    if (!req.ok()) return req.status();
    if (req->models().empty()) {
      auto models = UpstreamOutput(ctx, "train", "train", "models");
      if (!models.ok()) return models.status();
      for (absl::string_view m :
           absl::StrSplit(*models, ',', absl::SkipEmpty()))
        req->add_models(std::string(m));
      if (req->models().empty()) {
        return BadParam(step, "models",
                        "none given and no upstream train step made models");
      }
      // Training chose among its candidates on its eval part: the test part
      // measures that choice (choosing again on it would be optimistic).
      if (req->chosen_model().empty()) {
        auto chosen = UpstreamOutput(ctx, "train", "train", "best_model");
        if (!chosen.ok()) return chosen.status();
        req->set_chosen_model(*chosen);
      }
    }
    // The baseline: what the alias of the candidates' model (aliases
    // belong to a model) points to now, if anything.
    auto baseline = ResolveAliasOf(
        aliases_(),
        req->chosen_model().empty() ? req->models(0) : req->chosen_model(),
        alias, &alias);
    if (!baseline.ok()) return baseline.status();
    if (!baseline->empty()) {
      req->set_baseline_model(*baseline);
      req->set_baseline_alias(alias);
    }
    auto channel = evaluate_();
    auto stub = v1::Evaluator::NewStub(channel);
    auto e = RunOperation<v1::Evaluation>(
        ctx, channel, "evaluation",
        [&](grpc::ClientContext* call, v1::Operation* op) {
          return stub->Evaluate(call, *req, op);
        });
    if (!e.ok()) return e.status();
    StepResult r;
    auto& res = *r.results.mutable_fields();
    res["evaluation"].set_string_value(e->id());
    res["best_model"].set_string_value(e->best_model());
    res["blessed"].set_bool_value(e->blessed());
    res["baseline"].set_string_value(e->baseline().model());
    res["metric"].set_string_value(e->metric());
    for (const auto& c : e->candidates()) {
      if (c.model() != e->best_model()) continue;
      res[e->metric()].set_number_value(c.verdict().value());
      if (e->has_baseline())
        res["improvement"].set_number_value(c.verdict().improvement());
    }
    v1::Artifact a;
    a.set_id(StrCat("evaluation:", e->id()));
    a.set_type("evaluation");
    auto& props = *a.mutable_properties();
    props["best_model"] = e->best_model();
    props["blessed"] = e->blessed() ? "true" : "false";
    props["baseline"] = e->baseline().model();
    props["split"] = e->split();
    props["part"] = e->part();
    r.outputs["evaluation"] = a;
    return r;
  }

 private:
  // The step's parameters as a request (models and baseline left to
  // Execute); `alias` the baseline alias (gate.baseline).
  static absl::StatusOr<v1::EvaluateRequest> Request(const v1::StepSpec& step,
                                                     std::string* alias) {
    static const auto* mapping = new config::ParamMapping{
        .own = {{"train", K::kStringValue}},
        .hidden = {"baseline_model", "baseline_alias"},
        .renames = {{"criterion", "threshold_criterion"},
                    {"bootstrap", "bootstrap_resamples"}},
        .reshape = {{"slices", SliceSpecs}, {"gate", GateSpec}}};
    v1::EvaluateRequest req;
    if (auto s = ParamsToRequest(step, *mapping, &req); !s.ok()) return s;
    *alias = score::kDefaultAlias;
    const auto& f = step.params().fields();
    if (auto gate = f.find("gate"); gate != f.end()) {
      const auto& g = gate->second.struct_value().fields();
      if (auto b = g.find("baseline"); b != g.end())
        *alias = b->second.string_value();
    }
    return req;
  }

  // slices [Home, [Home, Job]] as SliceSpecs.
  // slices [Home, [Home, Job], {column: Age, buckets: 4}] as SliceSpecs
  // (a mapping: column or columns, and buckets).
  static absl::StatusOr<Value> SliceSpecs(const Value& slices) {
    constexpr char kWhat[] =
        "expected column names, lists of them, or {column(s), buckets}";
    if (slices.kind_case() != K::kListValue)
      return absl::InvalidArgumentError(kWhat);
    Value out;
    for (const auto& s : slices.list_value().values()) {
      auto& spec =
          *out.mutable_list_value()->add_values()->mutable_struct_value();
      auto& columns = *(*spec.mutable_fields())["columns"].mutable_list_value();
      if (s.kind_case() == K::kStringValue) {
        *columns.add_values() = s;
      } else if (s.kind_case() == K::kListValue) {
        *columns.mutable_values() = s.list_value().values();
      } else if (s.kind_case() == K::kStructValue) {
        for (const auto& [key, v] : s.struct_value().fields()) {
          if (key == "column") {
            *columns.add_values() = v;
          } else if (key == "columns" && v.kind_case() == K::kListValue) {
            *columns.mutable_values() = v.list_value().values();
          } else if (key == "buckets") {
            (*spec.mutable_fields())["buckets"] = v;
          } else {
            return absl::InvalidArgumentError(StrCat(
                "'", key, "' is not a slice key (column, columns, buckets)"));
          }
        }
      } else {
        return absl::InvalidArgumentError(kWhat);
      }
    }
    return out;
  }

  // gate {min: {auc: 0.75}, max: {...}, baseline: production, ...} as a
  // GateSpec: min/max as bounds, baseline (an alias) read by Request.
  static absl::StatusOr<Value> GateSpec(const Value& gate) {
    if (gate.kind_case() != K::kStructValue)
      return absl::InvalidArgumentError(
          "expected a mapping (min, max, baseline, min_improvement, "
          "require_baseline, metric)");
    Value out = gate;
    auto& fields = *out.mutable_struct_value()->mutable_fields();
    for (const auto& [key, v] : gate.struct_value().fields()) {
      static const std::set<std::string> known = {
          "min",    "max",   "baseline", "min_improvement", "require_baseline",
          "metric", "bounds"};
      if (!known.contains(key))
        return absl::InvalidArgumentError(
            StrCat(".", key,
                   ": unknown key (known: min, max, baseline, "
                   "min_improvement, require_baseline, metric)"));
    }
    auto& bounds = *fields["bounds"].mutable_list_value();
    for (const char* key : {"min", "max"}) {
      auto it = fields.find(key);
      if (it == fields.end()) continue;
      if (it->second.kind_case() != K::kStructValue)
        return absl::InvalidArgumentError(
            StrCat(".", key, ": expected {metric: value}"));
      for (const auto& [metric, x] : it->second.struct_value().fields()) {
        if (x.kind_case() != K::kNumberValue)
          return absl::InvalidArgumentError(
              StrCat(".", key, ".", metric, ": expected a number"));
        auto& b =
            *bounds.add_values()->mutable_struct_value()->mutable_fields();
        b["metric"].set_string_value(metric);
        b[key] = x;
      }
      fields.erase(it);
    }
    if (auto it = fields.find("baseline"); it != fields.end()) {
      if (it->second.kind_case() != K::kStringValue)
        return absl::InvalidArgumentError(".baseline: expected an alias");
      fields.erase(it);
    }
    if (auto it = fields.find("bounds");
        it != fields.end() && bounds.values().empty())
      fields.erase(it);
    return out;
  }

  ChannelProvider evaluate_, aliases_;
};

}  // namespace

void RegisterEvalExecutors(ExecutorRegistry* registry, ChannelProvider evaluate,
                           ChannelProvider aliases) {
  registry->Register("evaluate", std::make_unique<EvaluateExecutor>(
                                     std::move(evaluate), std::move(aliases)));
}

}  // namespace mlpipe::orchestrator
