#include "cli/prep_commands.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/config/pipeline_config.h"
#include "common/features/schema.h"
#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

// Timestamps (microseconds) as ISO times; their spread in days.
std::string Time(double micros) {
  std::string out;
  table::AppendTimestamp(
      static_cast<int64_t>(micros),
      table::TimestampFormat{.has_time = true, .has_seconds = true}, &out);
  return out;
}

}  // namespace

int RunStats(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"version", "columns"}); rc != kOk) return rc;
  if (args.positional().size() < 2)
    return UsageError("stats: DATASET is required");
  v1::ComputeStatisticsRequest req;
  req.set_dataset(args.positional()[1]);
  if (args.Has("version")) req.set_version(std::stoll(args.Get("version")));
  if (args.Has("columns")) {
    for (auto c : absl::StrSplit(args.Get("columns"), ','))
      req.add_columns(std::string(c));
  }
  auto stub = v1::Prep::NewStub(ctx.channel);
  grpc::ClientContext call;
  v1::DatasetStatistics stats;
  if (auto s = stub->ComputeStatistics(&call, req, &stats); !s.ok())
    return Fail(s, ctx);
  Print(ctx, stats, [&] {
    std::cout << "dataset " << stats.dataset() << " version " << stats.version()
              << ", " << FormatCount(stats.row_count()) << " rows\n\n";
    TablePrinter t({"COLUMN", "TYPE", "MISSING", "DISTINCT", "MEAN", "STD",
                    "MIN", "MEDIAN", "MAX", "TOP"});
    for (const auto& c : stats.columns()) {
      std::string distinct =
          FormatCount(c.distinct()) + (c.distinct_exact() ? "" : "~");
      if (c.has_numeric()) {
        const auto& n = c.numeric();
        std::string median;
        for (int i = 0; i < n.quantile_points_size(); ++i) {
          if (n.quantile_points(i) == 0.5)
            median = Num(n.quantiles(i)) + (n.quantiles_exact() ? "" : "~");
        }
        if (c.type() == v1::TIMESTAMP) {
          std::string med;
          for (int i = 0; i < n.quantile_points_size(); ++i) {
            if (n.quantile_points(i) == 0.5)
              med = Time(n.quantiles(i)) + (n.quantiles_exact() ? "" : "~");
          }
          t.Row({c.name(), std::string(table::ColumnTypeName(c.type())),
                 FormatCount(c.missing()), distinct, Time(n.mean()),
                 Num(n.std_dev() / 86400e6) + " d", Time(n.min()), med,
                 Time(n.max()), ""});
        } else {
          t.Row({c.name(), std::string(table::ColumnTypeName(c.type())),
                 FormatCount(c.missing()), distinct, Num(n.mean()),
                 Num(n.std_dev()), Num(n.min()), median, Num(n.max()), ""});
        }
      } else {
        std::string top;
        if (c.strings().top_values_size() > 0) {
          const auto& v = c.strings().top_values(0);
          top = StrCat(v.value(), " (", FormatCount(v.count()), ")");
        }
        t.Row({c.name(), std::string(table::ColumnTypeName(c.type())),
               FormatCount(c.missing()), distinct, "", "", "", "", "", top});
      }
    }
    t.Print();
  });
  return kOk;
}

int RunValidate(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"version", "schema", "fail-on", "label"});
      rc != kOk) {
    return rc;
  }
  if (args.positional().size() < 2)
    return UsageError("validate: DATASET is required");
  v1::ValidateRequest req;
  req.set_dataset(args.positional()[1]);
  if (args.Has("version")) req.set_version(std::stoll(args.Get("version")));
  req.set_label(args.Get("label"));
  if (args.Has("fail-on")) {
    for (auto k : absl::StrSplit(args.Get("fail-on"), ','))
      req.add_fail_on(std::string(k));
  }
  if (args.Has("schema")) {
    std::ifstream in(args.Get("schema"));
    if (!in) {
      std::cerr << "error: cannot read " << args.Get("schema") << "\n";
      return kNotFound;
    }
    std::stringstream text;
    text << in.rdbuf();
    auto value = config::ParseYamlValue(text.str(), args.Get("schema"));
    if (!value.ok()) {
      std::cerr << "error: " << value.status().message() << "\n";
      return kRejected;
    }
    auto schema = features::SchemaFromStruct(value->struct_value());
    if (!schema.ok()) {
      std::cerr << "error: " << args.Get("schema") << ": "
                << schema.status().message() << "\n";
      return kRejected;
    }
    *req.mutable_schema() = std::move(*schema);
  }
  auto stub = v1::Prep::NewStub(ctx.channel);
  grpc::ClientContext call;
  v1::ValidationReport report;
  if (auto s = stub->Validate(&call, req, &report); !s.ok())
    return Fail(s, ctx);
  Print(ctx, report, [&] {
    std::cout << "dataset " << report.dataset() << " version "
              << report.version() << ": "
              << (report.passed() ? "PASSED" : "FAILED") << ", "
              << report.anomalies_size() << " anomalies\n";
    if (report.anomalies_size() == 0) return;
    std::cout << "\n";
    TablePrinter t({"SEVERITY", "COLUMN", "ANOMALY", "DETAIL"});
    for (const auto& a : report.anomalies()) {
      t.Row({v1::Anomaly::Severity_Name(a.severity()), a.column(),
             absl::AsciiStrToLower(v1::Anomaly::Kind_Name(a.kind())),
             a.description()});
    }
    t.Print();
  });
  return report.passed() ? kOk : kRejected;
}

}  // namespace mlpipe::cli
