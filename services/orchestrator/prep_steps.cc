#include "services/orchestrator/prep_steps.h"

#include "absl/strings/ascii.h"
#include "clients/prepare_request.h"
#include "common/config/struct_message.h"
#include "common/features/schema.h"
#include "common/rpc/status.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/json_util.h"
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
    return Request(spec, step).status();
  }

  absl::StatusOr<StepResult> Execute(const StepContext& ctx) override {
    auto req = Request(*ctx.spec, *ctx.step);
    if (!req.ok()) return req.status();
    const std::string dataset = req->dataset();
    req->set_version(UpstreamVersion(ctx, dataset));
    auto stub = v1::Prep::NewStub(channel_());
    grpc::ClientContext call;
    call.set_deadline(absl::ToChronoTime(
        std::min(ctx.deadline, absl::Now() + absl::Minutes(30))));
    v1::ValidationReport report;
    if (auto s = stub->Validate(&call, *req, &report); !s.ok())
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
    h.Update(req->SerializeAsString());
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
  // The step's parameters as a ValidateRequest (version left to Execute).
  static absl::StatusOr<v1::ValidateRequest> Request(
      const v1::PipelineSpec& spec, const v1::StepSpec& step) {
    static const auto* mapping = new config::ParamMapping{
        .hidden = {"version", "label"}, .reshape = {{"schema", SchemaOf}}};
    v1::ValidateRequest req;
    req.set_dataset(StepDataset(spec, step));
    req.set_label(spec.label());
    if (auto s = ParamsToRequest(step, *mapping, &req); !s.ok()) return s;
    for (const auto& kind : req.fail_on()) {
      if (auto k = features::AnomalyKindFromName(kind); !k.ok())
        return BadParam(step, "fail_on", std::string(k.status().message()));
    }
    if (req.dataset().empty())
      return BadParam(step, "dataset", "required (or spec.dataset)");
    return req;
  }

  // schema: infer (unset) or {columns: {...}} as a DataSchema.
  static absl::StatusOr<Value> SchemaOf(const Value& schema) {
    Value out;
    if (schema.string_value() == "infer") {
      out.set_null_value(google::protobuf::NULL_VALUE);
      return out;
    }
    if (schema.kind_case() != Value::kStructValue)
      return absl::InvalidArgumentError("expected infer or {columns: {...}}");
    auto parsed = features::SchemaFromStruct(schema.struct_value());
    if (!parsed.ok())
      return absl::InvalidArgumentError(parsed.status().message());
    std::string json;
    if (auto s = google::protobuf::util::MessageToJsonString(*parsed, &json);
        !s.ok())
      return absl::InternalError(s.ToString());
    if (auto s = google::protobuf::util::JsonStringToMessage(json, &out);
        !s.ok())
      return absl::InternalError(s.ToString());
    return out;
  }

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
    static const auto* mapping = new config::ParamMapping{
        .hidden = {"version", "label"}, .reshape = {{"fit_on", FitScopeOf}}};
    v1::PrepareRequest req;
    req.set_dataset(StepDataset(spec, step));
    req.set_label(spec.label());
    if (auto s = ParamsToRequest(step, *mapping, &req); !s.ok()) return s;
    if (req.dataset().empty())
      return BadParam(step, "dataset", "required (or spec.dataset)");
    if (req.transforms().values().empty())
      return BadParam(step, "transforms", "required");
    return req;
  }

  // fit_on {rows: [begin, end]} as {row_begin, row_end}; {split, part} as is.
  static absl::StatusOr<Value> FitScopeOf(const Value& fit_on) {
    if (fit_on.kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError(
          "expected {rows: [begin, end]} or {split: ..., part: train}");
    }
    Value out = fit_on;
    auto& f = *out.mutable_struct_value()->mutable_fields();
    auto rows = f.find("rows");
    if (rows == f.end()) return out;
    const auto& range = rows->second.list_value().values();
    if (rows->second.kind_case() != Value::kListValue || range.size() != 2 ||
        range[0].kind_case() != Value::kNumberValue ||
        range[1].kind_case() != Value::kNumberValue) {
      return absl::InvalidArgumentError(".rows: expected [begin, end]");
    }
    const Value begin = range[0], end = range[1];
    f.erase("rows");
    f["row_begin"] = begin;
    f["row_end"] = end;
    return out;
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
