#include "services/orchestrator/deploy_steps.h"

#include <cmath>
#include <optional>

#include "absl/strings/ascii.h"
#include "clients/monitor_client.h"
#include "clients/routes.h"
#include "clients/score_client.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "services/monitor/rollout_plan.h"

namespace mlpipe::orchestrator {
namespace {

using K = google::protobuf::Value::KindCase;

class DeployExecutor final : public StepExecutor {
 public:
  DeployExecutor(ChannelProvider score, ChannelProvider monitor)
      : score_(std::move(score)), monitor_(std::move(monitor)) {}
  std::string version() const override { return "1"; }
  std::vector<std::string> ResultNames(const v1::StepSpec&) const override {
    return {"model_version", "alias",   "primary",
            "revision",      "percent", "rollout"};
  }
  bool Cacheable(const v1::StepSpec&) const override { return false; }

  absl::Status Validate(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) const override {
    auto req = Request(step);
    if (!req.ok()) return req.status();
    if (req->model_version().empty()) {
      // The model: the best of the evaluation before, else of the training.
      bool found = false;
      for (const char* upstream : {"evaluate", "train"}) {
        auto from = UpstreamStep(spec, step, upstream, upstream);
        if (!from.ok()) return from.status();
        found |= !from->empty();
      }
      if (!found) {
        return BadParam(step, "model",
                        "none given, and no evaluate or train step comes "
                        "before this one (after:) to choose it");
      }
    }
    if (auto p = Policy(step); !p.ok()) return p.status();
    return Plan(step).status();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    const v1::StepSpec& step = *ctx.step;
    auto req = Request(step);
    if (!req.ok()) return req.status();
    if (req->model_version().empty()) {
      for (const char* upstream : {"evaluate", "train"}) {
        auto best = UpstreamOutput(ctx, upstream, upstream, "best_model");
        if (!best.ok()) return best.status();
        if (!best->empty()) {
          req->set_model_version(*best);
          break;
        }
      }
      if (req->model_version().empty()) {
        return BadParam(step, "model",
                        "none given and no upstream evaluate or train step "
                        "chose a model");
      }
    }
    req->set_set_by(StrCat("run:", ctx.run_id, "/", step.name()));
    // The policy first, so that it judges the version from its first
    // actual.
    auto policy = Policy(step);
    if (!policy.ok()) return policy.status();
    if (*policy) {
      v1::SetPolicyRequest set;
      *set.mutable_policy() = **policy;
      set.mutable_policy()->set_alias(req->alias());
      std::string version = req->model_version();
      if (version.find(':') == std::string::npos) {
        return BadParam(step, "monitor",
                        "needs a model version (name:version) to set the "
                        "policy of");
      }
      set.mutable_policy()->set_model_version(version);
      grpc::ClientContext call;
      call.set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
      v1::MonitorPolicy out;
      if (auto s =
              v1::Monitor::NewStub(monitor_())->SetPolicy(&call, set, &out);
          !s.ok())
        return InStep(step, rpc::FromGrpcStatus(s));
    }
    auto plan = Plan(step);
    if (!plan.ok()) return plan.status();
    absl::StatusOr<Deployed> deployed =
        *plan ? StartRollout(step, *req, **plan) : Deploy(step, *req);
    if (!deployed.ok()) return deployed.status();
    return Result(*req, *deployed);
  }

 private:
  // What the step did: the route, and the rollout when it started one.
  struct Deployed {
    v1::Route route;
    std::optional<v1::Rollout> rollout;
  };

  absl::StatusOr<Deployed> Deploy(const v1::StepSpec& step,
                                  const v1::DeployRequest& req) {
    auto stub = v1::Scoring::NewStub(score_());
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::minutes(5));
    v1::DeployResponse resp;
    if (auto s = stub->Deploy(&call, req, &resp); !s.ok())
      return InStep(step, rpc::FromGrpcStatus(s));
    return Deployed{resp.route(), std::nullopt};
  }

  // Starts the rollout and waits until the monitor has set its first route
  // (the canary at the first step's share; the whole alias when nothing
  // served it).
  absl::StatusOr<Deployed> StartRollout(const v1::StepSpec& step,
                                        const v1::DeployRequest& req,
                                        const v1::RolloutPlan& plan) {
    v1::StartRolloutRequest start;
    start.set_alias(req.alias());
    start.set_model_version(req.model_version());
    *start.mutable_plan() = plan;
    start.set_set_by(req.set_by());
    if (req.has_latency_budget_ms())
      start.set_latency_budget_ms(req.latency_budget_ms());
    start.set_force_schema_change(req.force_schema_change());
    auto rollout =
        monitor::StartRolloutAndWait(monitor_(), start, absl::Minutes(5));
    if (!rollout.ok()) return InStep(step, rollout.status());
    auto routes = score::ListDeployments(score_());
    if (!routes.ok()) return InStep(step, routes.status());
    const v1::Route* route = score::FindRoute(*routes, rollout->alias());
    return Deployed{route ? *route : v1::Route(), *rollout};
  }

  static StepResult Result(const v1::DeployRequest& req,
                           const Deployed& deployed) {
    const v1::Route& route = deployed.route;
    const std::string primary = score::PrimaryOf(route);
    double percent = 0;
    for (const auto& t : route.targets())
      if (t.model_version() == req.model_version()) percent = t.percent();
    if (deployed.rollout) percent = deployed.rollout->share();
    std::string rollout;
    if (deployed.rollout) {
      rollout = absl::AsciiStrToLower(
          v1::Rollout::State_Name(deployed.rollout->state()));
    }
    const std::string version =
        deployed.rollout ? deployed.rollout->canary() : req.model_version();
    StepResult r;
    auto& res = *r.results.mutable_fields();
    res["model_version"].set_string_value(version);
    res["alias"].set_string_value(route.alias());
    res["primary"].set_string_value(primary);
    res["revision"].set_number_value(static_cast<double>(route.revision()));
    res["percent"].set_number_value(percent);
    res["rollout"].set_string_value(rollout);
    v1::Artifact a;
    a.set_id(StrCat("deployment:", route.alias(), ":", route.revision()));
    a.set_type("deployment");
    auto& props = *a.mutable_properties();
    props["model_version"] = version;
    props["alias"] = route.alias();
    props["primary"] = primary;
    props["percent"] = StrCat(percent);
    props["shadow"] = req.shadow() ? "true" : "false";
    if (deployed.rollout) {
      props["rollout"] = rollout;
      props["rollout_primary"] = deployed.rollout->primary();
    }
    r.outputs["deployment"] = a;
    return r;
  }

  // The `canary` key as a rollout plan, or nullopt.
  static absl::StatusOr<std::optional<v1::RolloutPlan>> Plan(
      const v1::StepSpec& step) {
    const auto& f = step.params().fields();
    auto it = f.find("canary");
    if (it == f.end()) return std::nullopt;
    if (f.contains("canary_percent") || f.contains("shadow")) {
      return BadParam(step, "canary",
                      "a rollout plan cannot be combined with canary_percent "
                      "or shadow");
    }
    auto plan = monitor::RolloutPlanFromValue(it->second);
    if (!plan.ok()) return InStep(step, plan.status());
    return *plan;
  }

  static absl::StatusOr<v1::DeployRequest> Request(const v1::StepSpec& step) {
    static const auto* mapping = new config::ParamMapping{
        .own = {{"evaluate", K::kStringValue},
                {"train", K::kStringValue},
                {"monitor", K::kStructValue},
                {"canary", K::kStructValue}},
        .hidden = {"traffic", "set_by", "reason", "fallback"},
        .renames = {{"model", "model_version"},
                    {"canary_percent", "traffic_percent"}}};
    v1::DeployRequest req;
    req.set_alias("production");
    if (auto s = ParamsToRequest(step, *mapping, &req); !s.ok()) return s;
    const auto& f = step.params().fields();
    if (auto it = f.find("canary_percent"); it != f.end()) {
      const double p = it->second.number_value();
      if (!(p >= 0 && p <= 100))
        return BadParam(step, "canary_percent", "must be in [0, 100]");
    }
    if (req.has_latency_budget_ms() && !(req.latency_budget_ms() >= 0))
      return BadParam(step, "latency_budget_ms", "must be >= 0");
    if (req.shadow() && req.traffic_percent() != 0)
      return BadParam(step, "shadow", "cannot be combined with canary_percent");
    return req;
  }

  // The `monitor` key as a policy (without version and alias), or nullopt.
  static absl::StatusOr<std::optional<v1::MonitorPolicy>> Policy(
      const v1::StepSpec& step) {
    const auto& f = step.params().fields();
    auto it = f.find("monitor");
    if (it == f.end()) return std::nullopt;
    v1::MonitorPolicy p;
    p.set_min_actuals(100);
    for (const auto& [key, v] : it->second.struct_value().fields()) {
      const std::string where = StrCat("monitor.", key);
      if (key == "rollback") {
        if (v.kind_case() != K::kBoolValue)
          return BadParam(step, where, "must be true or false");
        p.set_rollback(v.bool_value());
        continue;
      }
      if (v.kind_case() != K::kNumberValue)
        return BadParam(step, where, "must be a number");
      const double x = v.number_value();
      auto in01 = [&](auto set) -> absl::Status {
        if (!(x >= 0 && x <= 1))
          return BadParam(step, where, "must be in [0, 1]");
        set(x);
        return absl::OkStatus();
      };
      absl::Status s;
      if (key == "min_accuracy") {
        s = in01([&](double d) { p.set_min_accuracy(d); });
      } else if (key == "min_auc") {
        s = in01([&](double d) { p.set_min_auc(d); });
      } else if (key == "max_rmse") {
        if (!(x >= 0)) return BadParam(step, where, "must be >= 0");
        p.set_max_rmse(x);
      } else if (key == "min_r2") {
        if (!(x <= 1)) return BadParam(step, where, "must be <= 1");
        p.set_min_r2(x);
      } else if (key == "min_actuals") {
        if (!(x >= 1 && x == std::floor(x)))
          return BadParam(step, where, "must be a whole number >= 1");
        p.set_min_actuals(static_cast<uint64_t>(x));
      } else {
        return BadParam(step, where,
                        "unknown key (min_accuracy, min_auc, max_rmse, "
                        "min_r2, min_actuals, rollback)");
      }
      if (!s.ok()) return s;
    }
    if (!p.has_min_accuracy() && !p.has_min_auc() && !p.has_max_rmse() &&
        !p.has_min_r2())
      return BadParam(step, "monitor",
                      "names no bound (min_accuracy, min_auc, max_rmse, "
                      "min_r2)");
    return p;
  }

  ChannelProvider score_;
  ChannelProvider monitor_;
};

}  // namespace

void RegisterDeployExecutors(ExecutorRegistry* registry, ChannelProvider score,
                             ChannelProvider monitor) {
  registry->Register("deploy", std::make_unique<DeployExecutor>(
                                   std::move(score), std::move(monitor)));
}

}  // namespace mlpipe::orchestrator
