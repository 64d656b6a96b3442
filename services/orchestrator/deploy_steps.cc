#include "services/orchestrator/deploy_steps.h"

#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "services/score/deployments.h"

namespace mlpipe::orchestrator {
namespace {

using K = google::protobuf::Value::KindCase;

class DeployExecutor final : public StepExecutor {
 public:
  explicit DeployExecutor(ChannelProvider score) : score_(std::move(score)) {}
  std::string version() const override { return "1"; }
  bool Cacheable(const v1::StepSpec&) const override { return false; }

  absl::Status Validate(const v1::PipelineSpec&,
                        const v1::StepSpec& step) const override {
    return Request(step).status();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    const v1::StepSpec& step = *ctx.step;
    auto req = Request(step);
    if (!req.ok()) return req.status();
    if (req->model_version().empty()) {
      for (const char* upstream : {"evaluate", "train"}) {
        auto best = UpstreamOutput(ctx, upstream, "best_model");
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
    auto stub = v1::Scoring::NewStub(score_());
    grpc::ClientContext call;
    call.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::minutes(5));
    v1::DeployResponse resp;
    if (auto s = stub->Deploy(&call, *req, &resp); !s.ok())
      return InStep(step, rpc::FromGrpcStatus(s));
    const v1::Route& route = resp.route();
    const std::string primary = score::PrimaryOf(route);
    double percent = 0;
    for (const auto& t : route.targets())
      if (t.model_version() == req->model_version()) percent = t.percent();
    StepResult r;
    auto& res = *r.results.mutable_fields();
    res["model_version"].set_string_value(req->model_version());
    res["alias"].set_string_value(route.alias());
    res["primary"].set_string_value(primary);
    res["revision"].set_number_value(static_cast<double>(route.revision()));
    res["percent"].set_number_value(percent);
    v1::Artifact a;
    a.set_id(StrCat("deployment:", route.alias(), "@", route.revision()));
    a.set_type("deployment");
    auto& props = *a.mutable_properties();
    props["model_version"] = req->model_version();
    props["alias"] = route.alias();
    props["primary"] = primary;
    props["percent"] = StrCat(percent);
    props["shadow"] = req->shadow() ? "true" : "false";
    r.outputs["deployment"] = a;
    return r;
  }

 private:
  static absl::StatusOr<v1::DeployRequest> Request(const v1::StepSpec& step) {
    if (auto s = CheckParams(step, {{"model", K::kStringValue},
                                    {"alias", K::kStringValue},
                                    {"canary_percent", K::kNumberValue},
                                    {"shadow", K::kBoolValue},
                                    {"latency_budget_ms", K::kNumberValue},
                                    {"evaluate", K::kStringValue},
                                    {"train", K::kStringValue}});
        !s.ok()) {
      return s;
    }
    const auto& f = step.params().fields();
    v1::DeployRequest req;
    if (auto it = f.find("model"); it != f.end())
      req.set_model_version(it->second.string_value());
    req.set_alias("production");
    if (auto it = f.find("alias"); it != f.end())
      req.set_alias(it->second.string_value());
    if (auto it = f.find("canary_percent"); it != f.end()) {
      double p = it->second.number_value();
      if (!(p >= 0 && p <= 100))
        return BadParam(step, "canary_percent", "must be in [0, 100]");
      req.set_traffic_percent(p);
    }
    if (auto it = f.find("shadow"); it != f.end())
      req.set_shadow(it->second.bool_value());
    if (auto it = f.find("latency_budget_ms"); it != f.end()) {
      if (!(it->second.number_value() >= 0))
        return BadParam(step, "latency_budget_ms", "must be >= 0");
      req.set_latency_budget_ms(it->second.number_value());
    }
    if (req.shadow() && req.traffic_percent() != 0)
      return BadParam(step, "shadow", "cannot be combined with canary_percent");
    return req;
  }

  ChannelProvider score_;
};

}  // namespace

void RegisterDeployExecutors(ExecutorRegistry* registry,
                             ChannelProvider score) {
  registry->Register("deploy",
                     std::make_unique<DeployExecutor>(std::move(score)));
}

}  // namespace mlpipe::orchestrator
