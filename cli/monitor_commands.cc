#include "cli/monitor_commands.h"

#include <cmath>
#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "clients/registry_client.h"
#include "common/ops/operation_client.h"
#include "common/rpc/status.h"
#include "common/table/csv.h"
#include "common/table/jsonl.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "services/monitor/monitor_report.h"

namespace mlpipe::cli {
namespace {

void PrintDrift(const v1::DriftReport& d) {
  TablePrinter t({"FIELD", "KIND", "METHOD", "SCORE", "THRESHOLD", "DRIFTED",
                  "KS", "WASSERSTEIN", "CHI2 P", "MISSING", "OUT/UNSEEN"});
  for (const auto& f : d.fields()) {
    const bool num = f.kind() == v1::FieldProfile::NUMERIC;
    t.Row({f.name(), num ? "number" : "category", f.method(),
           FormatNumber(f.score()), FormatNumber(f.threshold()),
           f.drifted() ? "YES" : "no", num ? FormatNumber(f.ks()) : "",
           num ? FormatNumber(f.wasserstein()) : "",
           num ? "" : FormatNumber(f.chi2_p_value()),
           FormatNumber(f.missing_rate()),
           FormatNumber(num ? f.out_of_range_rate() : f.unseen_rate())});
  }
  t.Print();
}

void PrintAlerts(const google::protobuf::RepeatedPtrField<v1::Alert>& alerts) {
  TablePrinter t(
      {"ID", "TIME (UTC)", "KIND", "MODEL VERSION", "MESSAGE", "ACTION"});
  for (const auto& a : alerts) {
    t.Row({StrCat(a.id()), FormatMicros(a.time_micros()), a.kind(),
           a.model_version(), a.message(), a.action()});
  }
  t.Print();
}

void PrintReport(const v1::MonitorReport& r) {
  std::cout << "model version   " << r.model_version() << "\n"
            << "predictions     " << FormatCount(r.predictions()) << " in "
            << r.windows() << " window(s), " << FormatMicros(r.start_micros())
            << " .. " << FormatMicros(r.end_micros()) << " UTC\n";
  if (r.has_latency()) {
    const auto& l = r.latency();
    std::cout << "latency         p50 " << FormatNumber(1e3 * l.p50_seconds())
              << " ms, p90 " << FormatNumber(1e3 * l.p90_seconds())
              << " ms, p99 " << FormatNumber(1e3 * l.p99_seconds())
              << " ms, max " << FormatNumber(1e3 * l.max_seconds())
              << " ms over " << FormatCount(static_cast<int64_t>(l.count()))
              << " requests\n";
  }
  if (r.has_performance()) {
    const auto& p = r.performance();
    std::cout << "actuals         " << FormatCount(p.count());
    if (r.task() == v1::REGRESSION) {
      std::cout << ", rmse " << FormatNumber(p.rmse()) << ", mae "
                << FormatNumber(p.mae()) << ", r2 " << FormatNumber(p.r2());
    } else {
      std::cout << ", accuracy " << FormatNumber(p.accuracy());
      if (r.task() == v1::BINARY)
        std::cout << ", auc " << FormatNumber(p.auc());
    }
    std::cout << "\n";
  }
  if (r.has_drift()) {
    std::cout << "drift           " << r.drift().drifted_size() << " of "
              << r.drift().fields_size() << " fields drifted (reference "
              << FormatCount(r.drift().reference_rows()) << " rows)\n\n";
    PrintDrift(r.drift());
  } else {
    std::cout << "drift           none: " << r.drift_error() << "\n";
  }
  if (r.target_drift().fields_size() > 0) {
    std::cout << "\ntarget drift (actuals vs training labels)\n";
    PrintDrift(r.target_drift());
  }
  if (r.alerts_size() > 0) {
    std::cout << "\nalerts\n";
    PrintAlerts(r.alerts());
  }
}

int Report(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  if (pos.size() < 3)
    return UsageError(
        "usage: mlpipe monitor report MODEL [--windows N] "
        "[--html FILE]");
  if (int rc = CheckFlags(args, {"windows", "html"}); rc != kOk) return rc;
  v1::GetReportRequest req;
  std::string model = pos[2];
  if (model.find(':') == std::string::npos) {
    // An alias (or a model: its default alias) names the version it points
    // to now; else a model name (the monitor's newest version of it).
    auto version = orchestrator::ResolveAlias(ctx.channel, model);
    if (absl::IsInvalidArgument(version.status()))  // Ambiguous.
      return Fail(rpc::ToGrpcStatus(version.status()), ctx);
    if (version.ok() && !version->empty()) model = *version;
  }
  req.set_model_version(model);
  int windows = 0;
  if (args.Has("windows") &&
      (!absl::SimpleAtoi(args.Get("windows"), &windows) || windows < 1))
    return UsageError("--windows takes a whole number >= 1");
  req.set_windows(windows);
  req.set_include_profiles(args.Has("html"));
  UnaryCall call;
  v1::MonitorReport resp;
  auto stub = v1::Monitor::NewStub(ctx.channel);
  if (auto s = stub->GetReport(&call, req, &resp); !s.ok()) return Fail(s, ctx);
  if (args.Has("html")) {
    std::ofstream out(args.Get("html"));
    out << monitor::MonitorHtmlReport(resp);
    if (!out) {
      std::cerr << "error: cannot write " << args.Get("html") << "\n";
      return kError;
    }
    std::cerr << "wrote " << args.Get("html") << "\n";
    resp.clear_reference_profile();
    resp.clear_current_profile();
  }
  Print(ctx, resp, [&] { PrintReport(resp); });
  return kOk;
}

int SetReference(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  if (pos.size() < 3)
    return UsageError(
        "usage: mlpipe monitor reference MODEL_VERSION "
        "[--part P]");
  if (int rc = CheckFlags(args, {"part"}); rc != kOk) return rc;
  v1::SetReferenceRequest req;
  req.set_model_version(pos[2]);
  req.set_part(args.Get("part"));
  UnaryCall call;
  v1::Operation op;
  if (auto s = v1::Monitor::NewStub(ctx.channel)->SetReference(&call, req, &op);
      !s.ok())
    return Fail(s, ctx);
  auto ended = ops::WatchToEnd(ctx.channel, op);
  auto ref = ended.ok() ? ops::OperationResult<v1::MonitorReference>(*ended)
                        : absl::StatusOr<v1::MonitorReference>(ended.status());
  if (!ref.ok()) return Fail(rpc::ToGrpcStatus(ref.status()), ctx);
  Print(ctx, *ref, [&] {
    std::cout << "reference set for " << ref->model_version() << "\n";
  });
  return kOk;
}

int Policy(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  if (pos.size() < 3)
    return UsageError(
        "usage: mlpipe monitor policy MODEL_VERSION [--min-accuracy X] "
        "[--min-auc X] [--max-rmse X] [--min-r2 X] [--min-actuals N] "
        "[--rollback] [--alias A]");
  if (int rc = CheckFlags(args, {"min-accuracy", "min-auc", "max-rmse",
                                 "min-r2", "min-actuals", "rollback", "alias"});
      rc != kOk)
    return rc;
  auto stub = v1::Monitor::NewStub(ctx.channel);
  const bool set = args.Has("min-accuracy") || args.Has("min-auc") ||
                   args.Has("max-rmse") || args.Has("min-r2");
  v1::MonitorPolicy policy;
  if (!set) {  // Show it.
    v1::GetPolicyRequest req;
    req.set_model_version(pos[2]);
    UnaryCall call;
    if (auto s = stub->GetPolicy(&call, req, &policy); !s.ok())
      return Fail(s, ctx);
  } else {
    policy.set_model_version(pos[2]);
    policy.set_alias(args.Get("alias", "production"));
    policy.set_rollback(args.Has("rollback"));
    struct Bound {
      const char* flag;
      void (v1::MonitorPolicy::*set)(double);
    };
    for (const Bound& b :
         {Bound{"min-accuracy", &v1::MonitorPolicy::set_min_accuracy},
          Bound{"min-auc", &v1::MonitorPolicy::set_min_auc},
          Bound{"max-rmse", &v1::MonitorPolicy::set_max_rmse},
          Bound{"min-r2", &v1::MonitorPolicy::set_min_r2}}) {
      if (!args.Has(b.flag)) continue;
      double v = 0;
      if (!absl::SimpleAtod(args.Get(b.flag), &v))
        return UsageError(StrCat("--", b.flag, " takes a number"));
      (policy.*b.set)(v);
    }
    int64_t min_actuals = 100;
    if (args.Has("min-actuals") &&
        (!absl::SimpleAtoi(args.Get("min-actuals"), &min_actuals) ||
         min_actuals < 1))
      return UsageError("--min-actuals takes a whole number >= 1");
    policy.set_min_actuals(static_cast<uint64_t>(min_actuals));
    v1::SetPolicyRequest req;
    *req.mutable_policy() = policy;
    UnaryCall call;
    if (auto s = stub->SetPolicy(&call, req, &policy); !s.ok())
      return Fail(s, ctx);
  }
  Print(ctx, policy, [&] {
    TablePrinter t({"MODEL VERSION", "BOUNDS", "MIN ACTUALS", "ON BREACH"});
    std::string bounds;
    if (policy.has_min_accuracy())
      StrAppend(&bounds, "accuracy >= ", FormatNumber(policy.min_accuracy()),
                " ");
    if (policy.has_min_auc())
      StrAppend(&bounds, "auc >= ", FormatNumber(policy.min_auc()), " ");
    if (policy.has_max_rmse())
      StrAppend(&bounds, "rmse <= ", FormatNumber(policy.max_rmse()), " ");
    if (policy.has_min_r2())
      StrAppend(&bounds, "r2 >= ", FormatNumber(policy.min_r2()), " ");
    t.Row({policy.model_version(), bounds, StrCat(policy.min_actuals()),
           policy.rollback() ? StrCat("roll back ", policy.alias())
                             : std::string("alert")});
    t.Print();
  });
  return kOk;
}

}  // namespace

int RunMonitor(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  if (sub == "report") return Report(args, ctx);
  if (sub == "reference") return SetReference(args, ctx);
  if (sub == "policy") return Policy(args, ctx);
  return UsageError(
      "usage: mlpipe monitor report MODEL | reference VERSION | policy "
      "VERSION");
}

int RunActuals(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  if (pos.size() < 3 || pos[1] != "send")
    return UsageError(
        "usage: mlpipe actuals send FILE.csv|FILE.jsonl [--id-column C] "
        "[--actual-column C]");
  if (int rc = CheckFlags(args, {"id-column", "actual-column"}); rc != kOk)
    return rc;
  const std::string path = pos[2];
  const std::string id_column = args.Get("id-column", "prediction_id");
  const std::string actual_column = args.Get("actual-column", "actual");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "error: cannot read " << path << "\n";
    return kNotFound;
  }
  in.seekg(0, std::ios::end);
  const int64_t size = in.tellg();
  in.seekg(0);
  auto stub = v1::Monitor::NewStub(ctx.channel);
  v1::ActualsResult total;
  grpc::Status rpc_error;
  int64_t sent = 0;
  // Each block of rows becomes one RecordActuals call.
  auto sink = [&](table::TextRows& rows) -> absl::Status {
    int id = -1, actual = -1;
    for (size_t c = 0; c < rows.names().size(); ++c) {
      if (rows.names()[c] == id_column) id = static_cast<int>(c);
      if (rows.names()[c] == actual_column) actual = static_cast<int>(c);
    }
    if (id < 0 || actual < 0)
      return absl::InvalidArgumentError(
          StrCat(path, ": needs columns '", id_column, "' and '", actual_column,
                 "' (--id-column, --actual-column)"));
    v1::RecordActualsRequest req;
    for (size_t r = 0; r < rows.num_rows(); ++r) {
      auto* a = req.add_actuals();
      a->set_prediction_id(std::string(rows.cell(r, id)));
      if (rows.IsNull(r, actual)) continue;  // No value: refused by id.
      std::string_view text = rows.cell(r, actual);
      double v = 0;
      if (absl::SimpleAtod(std::string(text), &v) && std::isfinite(v)) {
        a->mutable_value()->set_number_value(v);
      } else {
        a->mutable_value()->set_string_value(std::string(text));
      }
    }
    UnaryCall call;
    call.set_deadline(std::chrono::system_clock::now() +
                      std::chrono::seconds(60));
    v1::ActualsResult result;
    if (auto s = stub->RecordActuals(&call, req, &result); !s.ok()) {
      rpc_error = s;
      return absl::AbortedError("rpc");
    }
    total.set_recorded(total.recorded() + result.recorded());
    total.set_duplicates(total.duplicates() + result.duplicates());
    total.set_unmatched(total.unmatched() + result.unmatched());
    for (auto& e : *result.mutable_errors()) total.add_errors(std::move(e));
    sent += static_cast<int64_t>(rows.num_rows());
    return absl::OkStatus();
  };
  const bool jsonl = path.ends_with(".jsonl") || path.ends_with(".json");
  table::BlockLimits limits;
  limits.rows = 5000;
  table::CsvOptions csv_options;
  csv_options.block = limits;
  table::JsonLinesOptions json_options;
  json_options.block = limits;
  table::CsvParser csv(csv_options, sink);
  table::JsonLinesParser json(json_options, sink);
  Progress progress("actuals", size);
  std::string buf(1 << 20, '\0');
  int64_t read = 0;
  absl::Status s;
  while (s.ok() && in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = in.gcount();
    if (n <= 0) break;
    read += n;
    std::string_view piece(buf.data(), static_cast<size_t>(n));
    s = jsonl ? json.Feed(piece) : csv.Feed(piece);
    progress.Update(read, sent);
  }
  if (s.ok()) s = jsonl ? json.Finish() : csv.Finish();
  progress.Done();
  if (!rpc_error.ok()) return Fail(rpc_error, ctx);
  if (!s.ok()) return Fail(rpc::ToGrpcStatus(s), ctx);
  Print(ctx, total, [&] {
    std::cout << "recorded " << FormatCount(total.recorded()) << ", duplicates "
              << FormatCount(total.duplicates()) << ", unmatched "
              << FormatCount(total.unmatched()) << ", refused "
              << FormatCount(total.errors_size()) << "\n";
    for (int i = 0; i < total.errors_size() && i < 10; ++i)
      std::cout << "  " << total.errors(i) << "\n";
    if (total.errors_size() > 10)
      std::cout << "  ... " << total.errors_size() - 10 << " more\n";
  });
  return total.errors_size() > 0 ? kRejected : kOk;
}

int RunAlerts(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  if (pos.size() > 1 && pos[1] != "list")
    return UsageError(
        "usage: mlpipe alerts list [--model VERSION] [--kind K] "
        "[--limit N]");
  if (int rc = CheckFlags(args, {"model", "kind", "limit"}); rc != kOk)
    return rc;
  v1::ListAlertsRequest req;
  req.set_model_version(args.Get("model"));
  req.set_kind(args.Get("kind"));
  req.set_limit(args.Limit());
  UnaryCall call;
  v1::ListAlertsResponse resp;
  if (auto s = v1::Monitor::NewStub(ctx.channel)->ListAlerts(&call, req, &resp);
      !s.ok())
    return Fail(s, ctx);
  Print(ctx, resp, [&] { PrintAlerts(resp.alerts()); });
  return kOk;
}

}  // namespace mlpipe::cli
