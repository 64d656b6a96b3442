#include "services/orchestrator/split_steps.h"

#include <algorithm>
#include <set>

#include "clients/split_spec.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/split_service.grpc.pb.h"
#include "services/orchestrator/operation_step.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::Value;
using K = google::protobuf::Value::KindCase;

class SplitExecutor final : public StepExecutor {
 public:
  explicit SplitExecutor(ChannelProvider channel)
      : channel_(std::move(channel)) {}
  std::string version() const override { return "1"; }
  std::vector<std::string> ResultNames(const v1::StepSpec&) const override {
    return {"split",       "strategy", "dataset",  "version",
            "feature_set", "*_rows",   "warnings", "warning_text"};
  }

  std::vector<ColumnRef> Columns(const v1::StepSpec& step) const override {
    return ColumnParams(step, {"label", "group_column"});
  }

  absl::Status Validate(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) const override {
    auto req = Request(spec, step);
    if (!req.ok()) return req.status();
    if (auto s = split::CheckSplitSpec(*req); !s.ok())
      return InStep(step, absl::InvalidArgumentError(s.message()));
    return UpstreamStep(spec, step, "features", "prepare").status();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    const v1::StepSpec& step = *ctx.step;
    auto req = Request(*ctx.spec, step);
    if (!req.ok()) return req.status();
    // The source: an upstream feature set, else the dataset version.
    const auto& f = step.params().fields();
    std::string fs;
    if (f.contains("features") || !f.contains("dataset")) {
      auto found = UpstreamOutput(ctx, "features", "prepare", "feature_set");
      if (!found.ok()) return found.status();
      fs = *found;
    }
    if (!fs.empty()) {
      req->clear_dataset();
      req->set_feature_set(fs);
      if (!f.contains("label")) req->clear_label();  // The feature set's.
    } else {
      req->set_version(UpstreamVersion(ctx, req->dataset()));
    }
    auto channel = channel_();
    auto stub = v1::Splits::NewStub(channel);
    auto split = RunOperation<v1::Split>(
        ctx, channel, "split",
        [&](grpc::ClientContext* call, v1::Operation* op) {
          return stub->CreateSplit(call, *req, op);
        });
    if (!split.ok()) return split.status();
    std::set<std::string> fail_on;
    if (auto it = f.find("fail_on"); it != f.end())
      for (const auto& v : it->second.list_value().values())
        fail_on.insert(v.string_value());
    std::string warnings, failing;
    for (const auto& w : split->warnings()) {
      StrAppend(&warnings, warnings.empty() ? "" : "; ", w.code(), ": ",
                w.message());
      if (fail_on.contains(w.code()))
        StrAppend(&failing, failing.empty() ? "" : "; ", w.code(), ": ",
                  w.message());
    }
    if (!failing.empty()) {
      return absl::FailedPreconditionError(StrCat(
          "split ", split->id(), " has warnings listed in fail_on: ", failing));
    }
    StepResult r;
    v1::Artifact a;
    a.set_id(StrCat("split:", split->id()));
    a.set_type("split");
    auto& props = *a.mutable_properties();
    props["strategy"] = split->spec().strategy();
    auto& res = *r.results.mutable_fields();
    res["split"].set_string_value(split->id());
    res["strategy"].set_string_value(split->spec().strategy());
    res["dataset"].set_string_value(split->dataset());
    res["version"].set_number_value(static_cast<double>(split->version()));
    if (!split->feature_set().empty()) {
      res["feature_set"].set_string_value(split->feature_set());
      props["feature_set"] = split->feature_set();
    }
    for (const auto& p : split->parts()) {
      res[StrCat(p.name(), "_rows")].set_number_value(
          static_cast<double>(p.rows()));
      props[StrCat(p.name(), "_rows")] = std::to_string(p.rows());
    }
    res["warnings"].set_number_value(split->warnings_size());
    if (!warnings.empty()) res["warning_text"].set_string_value(warnings);
    r.outputs["split"] = a;
    return r;
  }

 private:
  // The step's parameters as a SplitSpec (source left to Execute: the
  // spec's dataset for now).
  static absl::StatusOr<v1::SplitSpec> Request(const v1::PipelineSpec& spec,
                                               const v1::StepSpec& step) {
    static const auto* mapping = new config::ParamMapping{
        .own = {{"features", K::kStringValue}, {"fail_on", K::kListValue}},
        .hidden = {"feature_set", "version"},
        .renames = {{"ratios", "parts"}},
        .reshape = {{"ratios", PartsOfRatios}}};
    v1::SplitSpec req;
    req.set_dataset(StepDataset(spec, step));
    req.set_label(spec.label());
    if (auto s = ParamsToRequest(step, *mapping, &req); !s.ok()) return s;
    const auto& f = step.params().fields();
    if (auto it = f.find("fail_on"); it != f.end()) {
      for (const auto& c : it->second.list_value().values()) {
        if (split::IsWarningCode(c.string_value())) continue;
        std::string codes;
        for (const auto& w : split::WarningCodes())
          StrAppend(&codes, codes.empty() ? "" : ", ", w);
        return BadParam(step, "fail_on",
                        StrCat("'", c.string_value(),
                               "' is not a warning code (", codes, ")"));
      }
    }
    if (req.dataset().empty())
      return BadParam(step, "dataset", "required (or spec.dataset)");
    return req;
  }

  // ratios {train: 0.8, test: 0.2} as SplitSpec.parts.
  static absl::StatusOr<Value> PartsOfRatios(const Value& ratios) {
    if (ratios.kind_case() != K::kStructValue)
      return absl::InvalidArgumentError(
          "expected a mapping of part names to ratios ({train: 0.8, test: "
          "0.2})");
    Value parts;
    auto* list = parts.mutable_list_value();
    for (const auto& [name, ratio] : ratios.struct_value().fields()) {
      if (ratio.kind_case() != K::kNumberValue)
        return absl::InvalidArgumentError(
            StrCat(".", name, ": expected a number"));
      auto& part =
          *list->add_values()->mutable_struct_value()->mutable_fields();
      part["name"].set_string_value(name);
      part["ratio"] = ratio;
    }
    return parts;
  }

  ChannelProvider channel_;
};

}  // namespace

void RegisterSplitExecutors(ExecutorRegistry* registry, ChannelProvider split) {
  registry->Register("split",
                     std::make_unique<SplitExecutor>(std::move(split)));
}

}  // namespace mlpipe::orchestrator
