#include "services/orchestrator/prep_steps.h"

#include "absl/strings/ascii.h"
#include "clients/prepare_request.h"
#include "common/features/schema.h"
#include "common/rpc/status.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "services/orchestrator/operation_step.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::Value;

class ValidateExecutor final : public StepExecutor {
 public:
  explicit ValidateExecutor(ChannelProvider channel)
      : channel_(std::move(channel)) {}
  std::string version() const override { return "1"; }
  std::vector<std::string> ResultNames(const v1::StepSpec&) const override {
    return {"passed", "anomalies", "dataset", "version", "warnings"};
  }

  absl::Status Validate(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) const override {
    const auto& f = step.params().fields();
    for (const auto& [key, value] : f) {
      if (key != "schema" && key != "fail_on" && key != "dataset") {
        return absl::InvalidArgumentError(
            StrCat("steps.", step.name(), ".", key,
                   ": unknown parameter for type 'validate' (known: dataset, "
                   "fail_on, schema)"));
      }
    }
    if (auto it = f.find("schema"); it != f.end()) {
      if (it->second.kind_case() == Value::kStructValue) {
        auto schema = features::SchemaFromStruct(it->second.struct_value());
        if (!schema.ok())
          return InStep(step,
                        absl::InvalidArgumentError(schema.status().message()));
      } else if (it->second.string_value() != "infer") {
        return absl::InvalidArgumentError(
            StrCat("steps.", step.name(),
                   ".schema: expected infer or {columns: {...}}"));
      }
    }
    if (auto it = f.find("fail_on"); it != f.end()) {
      if (it->second.kind_case() != Value::kListValue) {
        return absl::InvalidArgumentError(
            StrCat("steps.", step.name(), ".fail_on: expected a list"));
      }
      for (const auto& v : it->second.list_value().values()) {
        if (auto k = features::AnomalyKindFromName(v.string_value()); !k.ok()) {
          return absl::InvalidArgumentError(StrCat(
              "steps.", step.name(), ".fail_on: ", k.status().message()));
        }
      }
    }
    if (StepDataset(spec, step).empty()) {
      return absl::InvalidArgumentError(StrCat(
          "steps.", step.name(), ".dataset: required (or spec.dataset)"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    const v1::StepSpec& step = *ctx.step;
    const std::string dataset = StepDataset(*ctx.spec, step);
    v1::ValidateRequest req;
    req.set_dataset(dataset);
    req.set_label(ctx.spec->label());
    req.set_version(UpstreamVersion(ctx, dataset));
    const auto& f = step.params().fields();
    if (auto it = f.find("schema");
        it != f.end() && it->second.kind_case() == Value::kStructValue) {
      auto schema = features::SchemaFromStruct(it->second.struct_value());
      if (!schema.ok()) return schema.status();
      *req.mutable_schema() = std::move(*schema);
    }
    if (auto it = f.find("fail_on"); it != f.end()) {
      for (const auto& v : it->second.list_value().values())
        req.add_fail_on(v.string_value());
    }
    auto stub = v1::Prep::NewStub(channel_());
    grpc::ClientContext call;
    call.set_deadline(absl::ToChronoTime(
        std::min(ctx.deadline, absl::Now() + absl::Minutes(30))));
    v1::ValidationReport report;
    if (auto s = stub->Validate(&call, req, &report); !s.ok())
      return rpc::FromGrpcStatus(s);

    StepResult r;
    int errors = 0;
    std::string broken;
    for (const auto& a : report.anomalies()) {
      if (a.severity() != v1::Anomaly::ERROR) continue;
      ++errors;
      StrAppend(&broken, broken.empty() ? "" : "; ", a.column(), ": ",
                absl::AsciiStrToLower(v1::Anomaly::Kind_Name(a.kind())), " (",
                a.description(), ")");
    }
    if (!report.passed()) {
      return absl::FailedPreconditionError(StrCat("validation of ", dataset,
                                                  "@v", report.version(),
                                                  " failed: ", broken));
    }
    Sha256 h;
    h.Update(req.SerializeAsString());
    v1::Artifact a;
    a.set_id(StrCat("validation:", dataset, "@v", report.version(), ":",
                    h.HexDigest().substr(7, 12)));
    a.set_type("validation_report");
    (*a.mutable_properties())["anomalies"] =
        std::to_string(report.anomalies_size());
    r.outputs["report"] = a;
    auto& res = *r.results.mutable_fields();
    res["passed"].set_bool_value(true);
    res["anomalies"].set_number_value(report.anomalies_size());
    res["dataset"].set_string_value(dataset);
    res["version"].set_number_value(static_cast<double>(report.version()));
    std::string warnings;
    for (const auto& an : report.anomalies()) {
      StrAppend(&warnings, warnings.empty() ? "" : "; ", an.column(), ": ",
                absl::AsciiStrToLower(v1::Anomaly::Kind_Name(an.kind())));
    }
    if (!warnings.empty()) res["warnings"].set_string_value(warnings);
    return r;
  }

 private:
  ChannelProvider channel_;
};

// Fits and applies feature transforms through Prepare, a long-running
// operation watched to its end (cancelled with the step).
class PrepareExecutor final : public StepExecutor {
 public:
  explicit PrepareExecutor(ChannelProvider channel)
      : channel_(std::move(channel)) {}
  std::string version() const override { return "1"; }
  std::vector<std::string> ResultNames(const v1::StepSpec&) const override {
    return {"feature_set", "transform", "rows",
            "features",    "dataset",   "version"};
  }

  absl::Status Validate(const v1::PipelineSpec& spec,
                        const v1::StepSpec& step) const override {
    auto req = Request(spec, step);
    if (!req.ok()) return req.status();
    if (auto s = prep::CheckPrepareRequest(*req); !s.ok())
      return InStep(step, absl::InvalidArgumentError(s.message()));
    if (const auto& split = req->fit_on().split(); !split.empty())
      return RequireAfter(step, "fit_on.split", split, "a split step");
    return absl::OkStatus();
  }

  std::vector<ColumnRef> Columns(const v1::StepSpec& step) const override {
    return ColumnParams(step, {"passthrough"}, "transforms", "columns");
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    auto req = Request(*ctx.spec, *ctx.step);
    if (!req.ok()) return req.status();
    req->set_version(UpstreamVersion(ctx, req->dataset()));
    if (const std::string step = req->fit_on().split(); !step.empty()) {
      req->mutable_fit_on()->set_split(UpstreamResult(ctx, step, "split"));
      if (req->fit_on().split().empty())
        return BadParam(*ctx.step, "fit_on.split",
                        StrCat("step '", step, "' produced no split"));
    }
    auto channel = channel_();
    auto stub = v1::Prep::NewStub(channel);
    auto fs = RunOperation<v1::FeatureSet>(
        ctx, channel, "prepare",
        [&](grpc::ClientContext* call, v1::Operation* op) {
          return stub->Prepare(call, *req, op);
        });
    if (!fs.ok()) return fs.status();
    StepResult r;
    v1::Artifact a;
    a.set_id(StrCat("feature_set:", fs->id()));
    a.set_type("feature_set");
    (*a.mutable_properties())["rows"] = std::to_string(fs->num_rows());
    (*a.mutable_properties())["features"] = std::to_string(fs->features_size());
    (*a.mutable_properties())["transform"] = fs->transform_id();
    r.outputs["features"] = a;
    auto& res = *r.results.mutable_fields();
    res["feature_set"].set_string_value(fs->id());
    res["transform"].set_string_value(fs->transform_id());
    res["rows"].set_number_value(static_cast<double>(fs->num_rows()));
    res["features"].set_number_value(fs->features_size());
    res["dataset"].set_string_value(fs->dataset());
    res["version"].set_number_value(static_cast<double>(fs->version()));
    return r;
  }

 private:
  // The step's parameters as a PrepareRequest (version left to Execute).
  static absl::StatusOr<v1::PrepareRequest> Request(
      const v1::PipelineSpec& spec, const v1::StepSpec& step) {
    v1::PrepareRequest req;
    req.set_dataset(StepDataset(spec, step));
    req.set_label(spec.label());
    for (const auto& [key, v] : step.params().fields()) {
      if (key == "dataset") continue;
      if (key == "transforms") {
        if (v.kind_case() != Value::kListValue)
          return BadParam(step, key, "expected a list");
        *req.mutable_transforms() = v.list_value();
      } else if (key == "entity_key" || key == "event_timestamp") {
        if (v.kind_case() != Value::kStringValue)
          return BadParam(step, key, "expected a column name");
        if (key == "entity_key")
          req.set_entity_key(v.string_value());
        else
          req.set_event_timestamp(v.string_value());
      } else if (key == "passthrough") {
        if (v.kind_case() != Value::kListValue)
          return BadParam(step, key, "expected a list of column names");
        for (const auto& c : v.list_value().values())
          req.add_passthrough(c.string_value());
      } else if (key == "select") {
        // {method: chi2 | mutual_info, k: N}
        if (v.kind_case() != Value::kStructValue)
          return BadParam(step, key, "expected {method: chi2, k: 10}");
        const auto& f = v.struct_value().fields();
        auto m = f.find("method"), k = f.find("k");
        if (m == f.end() || k == f.end())
          return BadParam(step, key, "needs method and k");
        req.set_select(m->second.string_value());
        req.set_select_k(static_cast<int>(k->second.number_value()));
      } else if (key == "fit_on") {
        // {rows: [begin, end]} or {split: NAME, part: train}.
        if (v.kind_case() != Value::kStructValue)
          return BadParam(step, key,
                          "expected {rows: [begin, end]} or {split: ..., "
                          "part: train}");
        for (const auto& [k2, v2] : v.struct_value().fields()) {
          if (k2 == "rows") {
            if (v2.kind_case() != Value::kListValue ||
                v2.list_value().values_size() != 2)
              return BadParam(step, "fit_on.rows", "expected [begin, end]");
            req.mutable_fit_on()->set_row_begin(
                static_cast<int64_t>(v2.list_value().values(0).number_value()));
            req.mutable_fit_on()->set_row_end(
                static_cast<int64_t>(v2.list_value().values(1).number_value()));
          } else if (k2 == "split") {
            req.mutable_fit_on()->set_split(v2.string_value());
          } else if (k2 == "part") {
            req.mutable_fit_on()->set_part(v2.string_value());
          } else {
            return BadParam(step, StrCat("fit_on.", k2),
                            "unknown (rows, split, part)");
          }
        }
      } else {
        return BadParam(step, key,
                        "unknown parameter for type 'prepare' (known: dataset, "
                        "transforms, fit_on, entity_key, event_timestamp, "
                        "passthrough, select)");
      }
    }
    if (req.dataset().empty())
      return BadParam(step, "dataset", "required (or spec.dataset)");
    if (req.transforms().values().empty())
      return BadParam(step, "transforms", "required");
    return req;
  }

  ChannelProvider channel_;
};

}  // namespace

void RegisterPrepExecutors(ExecutorRegistry* registry, ChannelProvider prep) {
  registry->Register("validate", std::make_unique<ValidateExecutor>(prep));
  registry->Register("prepare",
                     std::make_unique<PrepareExecutor>(std::move(prep)));
}

}  // namespace mlpipe::orchestrator
