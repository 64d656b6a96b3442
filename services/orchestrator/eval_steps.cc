#include "services/orchestrator/eval_steps.h"

#include "absl/strings/str_split.h"
#include "clients/evaluate_request.h"
#include "clients/registry_client.h"
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

  absl::Status Validate(const v1::PipelineSpec&,
                        const v1::StepSpec& step) const override {
    std::string alias;
    auto req = Request(step, &alias);
    if (!req.ok()) return req.status();
    if (req->models().empty()) req->add_models("-");  // Resolved later.
    if (auto s = evaluate::CheckRequest(*req); !s.ok()) return InStep(step, s);
    return absl::OkStatus();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    const v1::StepSpec& step = *ctx.step;
    std::string alias;
    auto req = Request(step, &alias);
    if (!req.ok()) return req.status();
    if (req->models().empty()) {
      auto models = UpstreamOutput(ctx, "train", "models");
      if (!models.ok()) return models.status();
      for (absl::string_view m :
           absl::StrSplit(*models, ',', absl::SkipEmpty()))
        req->add_models(std::string(m));
      if (req->models().empty()) {
        return BadParam(step, "models",
                        "none given and no upstream train step made models");
      }
    }
    // The baseline: the model the alias points to now, if any.
    auto baseline = ResolveAlias(aliases_(), alias);
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
  // Execute); `alias` the baseline alias.
  static absl::StatusOr<v1::EvaluateRequest> Request(const v1::StepSpec& step,
                                                     std::string* alias) {
    if (auto s = CheckParams(step, {{"models", K::kListValue},
                                    {"train", K::kStringValue},
                                    {"metric", K::kStringValue},
                                    {"slices", K::kListValue},
                                    {"part", K::kStringValue},
                                    {"split", K::kStringValue},
                                    {"gate", K::kStructValue},
                                    {"threshold", K::kNumberValue},
                                    {"criterion", K::kStringValue},
                                    {"bootstrap", K::kNumberValue},
                                    {"min_slice_rows", K::kNumberValue}});
        !s.ok()) {
      return s;
    }
    const auto& f = step.params().fields();
    auto str = [&](const char* key) {
      auto it = f.find(key);
      return it == f.end() ? std::string() : it->second.string_value();
    };
    v1::EvaluateRequest req;
    if (auto it = f.find("models"); it != f.end()) {
      for (const auto& m : it->second.list_value().values()) {
        if (m.kind_case() != Value::kStringValue)
          return BadParam(step, "models", "expected model ids");
        req.add_models(m.string_value());
      }
    }
    req.set_metric(str("metric"));
    req.set_part(str("part"));
    req.set_split(str("split"));
    req.set_threshold_criterion(str("criterion"));
    if (auto it = f.find("threshold"); it != f.end())
      req.set_threshold(it->second.number_value());
    if (auto it = f.find("bootstrap"); it != f.end())
      req.set_bootstrap_resamples(static_cast<int>(it->second.number_value()));
    if (auto it = f.find("min_slice_rows"); it != f.end())
      req.set_min_slice_rows(static_cast<int64_t>(it->second.number_value()));
    if (auto it = f.find("slices"); it != f.end()) {
      for (const auto& s : it->second.list_value().values()) {
        auto* spec = req.add_slices();
        if (s.kind_case() == Value::kStringValue) {
          spec->add_columns(s.string_value());
        } else if (s.kind_case() == Value::kListValue) {
          for (const auto& c : s.list_value().values())
            spec->add_columns(c.string_value());
        } else {
          return BadParam(step, "slices",
                          "expected column names or lists of them");
        }
      }
    }
    *alias = "production";
    if (auto it = f.find("gate"); it != f.end()) {
      auto* gate = req.mutable_gate();
      for (const auto& [key, v] : it->second.struct_value().fields()) {
        if (key == "min" || key == "max") {
          if (v.kind_case() != Value::kStructValue)
            return BadParam(step, "gate." + key, "expected {metric: value}");
          for (const auto& [metric, x] : v.struct_value().fields()) {
            if (x.kind_case() != Value::kNumberValue)
              return BadParam(step, "gate." + key + "." + metric,
                              "expected a number");
            auto* b = gate->add_bounds();
            b->set_metric(metric);
            if (key == "min") {
              b->set_min(x.number_value());
            } else {
              b->set_max(x.number_value());
            }
          }
        } else if (key == "baseline" && v.kind_case() == Value::kStringValue) {
          *alias = v.string_value();
        } else if (key == "min_improvement" &&
                   v.kind_case() == Value::kNumberValue) {
          gate->set_min_improvement(v.number_value());
        } else if (key == "require_baseline" &&
                   v.kind_case() == Value::kBoolValue) {
          gate->set_require_baseline(v.bool_value());
        } else {
          return BadParam(step, "gate." + key,
                          "unknown or mistyped (min, max, baseline, "
                          "min_improvement, require_baseline)");
        }
      }
    }
    return req;
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
