#include "services/orchestrator/train_steps.h"

#include "absl/strings/str_join.h"
#include "clients/train_request.h"
#include "common/config/struct_message.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/train_service.grpc.pb.h"
#include "services/orchestrator/operation_step.h"

namespace mlpipe::orchestrator {
namespace {

using K = google::protobuf::Value::KindCase;

class TrainExecutor final : public StepExecutor {
 public:
  explicit TrainExecutor(ChannelProvider channel)
      : channel_(std::move(channel)) {}
  std::string version() const override { return "1"; }
  std::vector<std::string> ResultNames(
      const v1::StepSpec& step) const override {
    std::vector<std::string> out = {"job", "best_model", "models",
                                    "cached_candidates"};
    // Per candidate: its model and its metrics ("gbdt_model", "gbdt_auc").
    auto it = step.params().fields().find("candidates");
    if (it != step.params().fields().end()) {
      for (const auto& c : it->second.list_value().values()) {
        auto name = c.struct_value().fields().find("name");
        if (name == c.struct_value().fields().end()) continue;
        out.push_back(StrCat(name->second.string_value(), "_*"));
      }
    }
    return out;
  }

  std::vector<ColumnRef> Columns(const v1::StepSpec& step) const override {
    return ColumnParams(step, {"label"});
  }

  absl::Status Validate(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) const override {
    auto req = Request(spec, step);
    if (!req.ok()) return req.status();
    req->set_split("-");  // Resolved when the step runs.
    if (auto s = train::CheckTrainingRequest(*req); !s.ok())
      return InStep(step, s);
    auto split = UpstreamStep(spec, step, "split", "split");
    if (!split.ok()) return split.status();
    if (split->empty()) {
      return BadParam(step, "split",
                      "no split step comes before this one (after:)");
    }
    return UpstreamStep(spec, step, "features", "prepare").status();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    const v1::StepSpec& step = *ctx.step;
    auto req = Request(*ctx.spec, step);
    if (!req.ok()) return req.status();
    auto split = UpstreamOutput(ctx, "split", "split", "split");
    if (!split.ok()) return split.status();
    if (split->empty()) {
      return BadParam(step, "split",
                      "no upstream step made a split; add one to after");
    }
    req->set_split(*split);
    auto fs = UpstreamOutput(ctx, "features", "prepare", "feature_set");
    if (!fs.ok()) return fs.status();
    req->set_feature_set(*fs);  // Empty: the split's own.
    req->set_idempotency_key(ctx.idempotency_key);
    req->set_no_cache(ctx.no_cache);
    auto channel = channel_();
    auto stub = v1::Training::NewStub(channel);
    auto result = RunOperation<v1::TrainingResult>(
        ctx, channel, "training job",
        [&](grpc::ClientContext* call, v1::Operation* op) {
          return stub->StartTraining(call, *req, op);
        });
    if (!result.ok()) return result.status();

    StepResult r;
    auto& res = *r.results.mutable_fields();
    res["job"].set_string_value(result->job());
    res["best_model"].set_string_value(result->best_model());
    // Candidates whose model an earlier job made from the same inputs.
    res["cached_candidates"].set_string_value(
        absl::StrJoin(result->cached_candidates(), ","));
    std::string models;
    for (const auto& m : result->models()) {
      StrAppend(&models, models.empty() ? "" : ",", m.id());
      res[StrCat(m.candidate(), "_model")].set_string_value(m.id());
      for (const auto& metric : m.eval_metrics()) {
        res[StrCat(m.candidate(), "_", metric.name())].set_number_value(
            metric.value());
      }
      v1::Artifact a;
      a.set_id(StrCat("model:", m.id()));
      a.set_type("model");
      auto& props = *a.mutable_properties();
      props["algorithm"] = m.algorithm();
      props["candidate"] = m.candidate();
      props["split"] = m.split_id();
      props["feature_set"] = m.feature_set();
      props["sha256"] = m.sha256();
      for (const auto& metric : m.eval_metrics()) {
        props[StrCat("eval_", metric.name())] = StrCat(metric.value());
      }
      r.outputs[StrCat("model_", m.candidate())] = a;
    }
    res["models"].set_string_value(models);
    return r;
  }

 private:
  // The step's parameters as a request (split and feature set left to
  // Execute).
  static absl::StatusOr<v1::StartTrainingRequest> Request(
      const v1::PipelineSpec& spec, const v1::StepSpec& step) {
    static const auto* mapping =
        new config::ParamMapping{.own = {{"split", K::kStringValue},
                                         {"features", K::kStringValue},
                                         {"dataset", K::kStringValue}},
                                 .hidden = {"feature_set", "idempotency_key"}};
    v1::StartTrainingRequest req;
    if (auto s = ParamsToRequest(step, *mapping, &req); !s.ok()) return s;
    if (req.model().empty()) req.set_model(StepDataset(spec, step));
    if (req.positive_class().empty() && req.task() != "regression" &&
        req.task() != "multiclass") {
      req.set_positive_class(spec.positive_class());
    }
    return req;
  }

  ChannelProvider channel_;
};

}  // namespace

void RegisterTrainExecutors(ExecutorRegistry* registry, ChannelProvider train) {
  registry->Register("train",
                     std::make_unique<TrainExecutor>(std::move(train)));
}

}  // namespace mlpipe::orchestrator
