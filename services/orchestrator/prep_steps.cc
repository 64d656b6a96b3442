#include "services/orchestrator/prep_steps.h"

#include "absl/strings/ascii.h"
#include "common/features/schema.h"
#include "common/rpc/status.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::Value;

class ValidateExecutor final : public StepExecutor {
 public:
  explicit ValidateExecutor(ChannelProvider channel)
      : channel_(std::move(channel)) {}
  std::string version() const override { return "1"; }

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
        if (!schema.ok()) {
          return absl::InvalidArgumentError(
              StrCat("steps.", step.name(), ".", schema.status().message()));
        }
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
    // The version an upstream step produced, so the result (and the cache
    // key, which includes upstream outputs) follows the data.
    for (const auto& [name, up] : ctx.upstream) {
      const auto& r = up.results().fields();
      auto d = r.find("dataset"), v = r.find("version");
      if (d != r.end() && v != r.end() && d->second.string_value() == dataset) {
        req.set_version(std::max<int64_t>(
            req.version(), static_cast<int64_t>(v->second.number_value())));
      }
    }
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

}  // namespace

void RegisterPrepExecutors(ExecutorRegistry* registry, ChannelProvider prep) {
  registry->Register("validate",
                     std::make_unique<ValidateExecutor>(std::move(prep)));
}

}  // namespace mlpipe::orchestrator
