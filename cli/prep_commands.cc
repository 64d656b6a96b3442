#include "cli/prep_commands.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/config/pipeline_config.h"
#include "common/features/schema.h"
#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

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
  if (args.Has("version")) req.set_version(args.Int("version"));
  if (args.Has("columns")) {
    for (auto c : absl::StrSplit(args.Get("columns"), ','))
      req.add_columns(std::string(c));
  }
  auto stub = v1::Prep::NewStub(ctx.channel);
  UnaryCall call;
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
            median = FormatNumber(n.quantiles(i), 6) +
                     (n.quantiles_exact() ? "" : "~");
        }
        if (c.type() == v1::TIMESTAMP) {
          std::string med;
          for (int i = 0; i < n.quantile_points_size(); ++i) {
            if (n.quantile_points(i) == 0.5)
              med = Time(n.quantiles(i)) + (n.quantiles_exact() ? "" : "~");
          }
          t.Row({c.name(), std::string(table::ColumnTypeName(c.type())),
                 FormatCount(c.missing()), distinct, Time(n.mean()),
                 FormatNumber(n.std_dev() / 86400e6, 6) + " d", Time(n.min()),
                 med, Time(n.max()), ""});
        } else {
          t.Row({c.name(), std::string(table::ColumnTypeName(c.type())),
                 FormatCount(c.missing()), distinct, FormatNumber(n.mean(), 6),
                 FormatNumber(n.std_dev(), 6), FormatNumber(n.min(), 6), median,
                 FormatNumber(n.max(), 6), ""});
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

// The schema in the YAML file at `path` (column rules); an exit code.
int ReadSchema(const std::string& path, v1::DataSchema* out) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "error: cannot read " << path << "\n";
    return kNotFound;
  }
  std::stringstream text;
  text << in.rdbuf();
  auto value = config::ParseYamlValue(text.str(), path);
  if (!value.ok()) {
    std::cerr << "error: " << value.status().message() << "\n";
    return kRejected;
  }
  auto schema = features::SchemaFromStruct(value->struct_value());
  if (!schema.ok()) {
    std::cerr << "error: " << path << ": " << schema.status().message() << "\n";
    return kRejected;
  }
  *out = std::move(*schema);
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
  if (args.Has("version")) req.set_version(args.Int("version"));
  req.set_label(args.Get("label"));
  if (args.Has("fail-on")) {
    for (auto k : absl::StrSplit(args.Get("fail-on"), ','))
      req.add_fail_on(std::string(k));
  }
  if (args.Has("schema")) {
    if (int rc = ReadSchema(args.Get("schema"), req.mutable_schema());
        rc != kOk)
      return rc;
  }
  auto stub = v1::Prep::NewStub(ctx.channel);
  UnaryCall call;
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

namespace {

// One line per transform step, e.g. "impute median=5 -> scale (x-1)/2".
std::string Steps(const v1::FittedColumn& c) {
  std::string out;
  for (const auto& s : c.steps()) {
    if (!out.empty()) out += " -> ";
    switch (s.kind_case()) {
      case v1::TransformStep::kImpute:
        out += "impute " +
               (c.input_type() == v1::NUMERIC || c.input_type() == v1::TIMESTAMP
                    ? FormatNumber(s.impute().number(), 6)
                    : s.impute().text());
        break;
      case v1::TransformStep::kClip:
        out += StrCat("clip [", FormatNumber(s.clip().lower(), 6), ", ",
                      FormatNumber(s.clip().upper(), 6), "]");
        break;
      case v1::TransformStep::kLog1P:
        out += "log1p";
        break;
      case v1::TransformStep::kScale:
        out += StrCat("(x - ", FormatNumber(s.scale().offset(), 6), ") / ",
                      FormatNumber(s.scale().scale(), 6));
        break;
      case v1::TransformStep::kBucketize:
        out += StrCat("bucketize ", s.bucketize().inner_edges_size() + 1);
        break;
      case v1::TransformStep::kOneHot:
        out += StrCat("one_hot ", s.one_hot().categories_size(),
                      s.one_hot().has_other() ? " + other" : "");
        break;
      case v1::TransformStep::kHash:
        out += StrCat("hash ", s.hash().buckets());
        break;
      case v1::TransformStep::kTokenHash:
        out += StrCat("tokens ", s.token_hash().buckets());
        break;
      case v1::TransformStep::kTimestampParts:
        out += StrCat("parts ", s.timestamp_parts().parts_size());
        break;
      default:
        break;
    }
  }
  return out;
}

// A raw value as `features get` shows it: numbers as they were read.
std::string RawText(const google::protobuf::Value& v) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kNumberValue:
      return FormatNumber(v.number_value(), 15);
    case google::protobuf::Value::kStringValue:
      return v.string_value();
    case google::protobuf::Value::kBoolValue:
      return v.bool_value() ? "true" : "false";
    default:
      return "-";
  }
}

// One row per key: version, event time, then the raw values or the
// transformed vector.
void PrintOnlineRows(const v1::GetOnlineFeaturesResponse& resp,
                     bool transformed) {
  std::vector<std::string> header = {"KEY", "VERSION", "EVENT TIME"};
  const auto& names = transformed ? resp.features() : resp.raw_columns();
  header.insert(header.end(), names.begin(), names.end());
  TablePrinter t(header);
  for (const auto& v : resp.vectors()) {
    std::vector<std::string> row = {
        v.key(),
        !v.found()                 ? "-"
        : v.dataset_version() == 0 ? "pushed"
                                   : std::to_string(v.dataset_version()),
        v.found() ? FormatTime(v.event_time()) : "-"};
    for (int i = 0; i < names.size(); ++i) {
      if (!v.found()) {
        row.push_back("");
      } else if (transformed) {
        row.push_back(FormatNumber(v.values(i), 6));
      } else {
        row.push_back(i < v.raw().values_size() ? RawText(v.raw().values(i))
                                                : "-");
      }
    }
    t.Row(row);
  }
  t.Print();
}

}  // namespace

int RunFeatures(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  std::string sub = pos.size() > 1 ? pos[1] : "";
  if ((sub != "show" && sub != "get") || pos.size() < 3)
    return UsageError("features show ID | features get ID --keys k1,k2");
  auto stub = v1::Prep::NewStub(ctx.channel);
  if (sub == "show") {
    if (int rc = CheckFlags(args, {}); rc != kOk) return rc;
    UnaryCall call;
    v1::GetFeatureSetRequest req;
    req.set_id(pos[2]);
    v1::FeatureSet fs;
    if (auto s = stub->GetFeatureSet(&call, req, &fs); !s.ok())
      return Fail(s, ctx);
    UnaryCall tcall;
    v1::GetTransformRequest treq;
    treq.set_id(fs.transform_id());
    v1::FittedTransform t;
    if (auto s = stub->GetTransform(&tcall, treq, &t); !s.ok())
      return Fail(s, ctx);
    if (ctx.json) {
      PrintStructured(ctx, {{"feature_set", &fs}, {"transform", &t}});
      return kOk;
    }
    std::cout << "feature set  " << fs.id() << "\n"
              << "dataset      " << fs.dataset() << " version " << fs.version()
              << ", " << FormatCount(fs.num_rows()) << " rows\n"
              << "transform    " << t.id() << " (fitted on " << t.fitted_on()
              << ")\n"
              << "features     " << fs.features_size() << "\n";
    if (!fs.label().empty()) std::cout << "label        " << fs.label() << "\n";
    if (!fs.online_view().empty())
      std::cout << "online view  " << fs.online_view() << " (key "
                << fs.entity_key()
                << (fs.event_timestamp().empty()
                        ? ""
                        : ", event time " + fs.event_timestamp())
                << ")\n";
    if (t.has_selection())
      std::cout << "selection    " << t.selection().method() << ", kept "
                << t.selection().kept_size() << " of "
                << t.selection().scores_size() << "\n";
    std::cout << "\n";
    TablePrinter table({"INPUT", "TYPE", "STEPS", "OUTPUTS"});
    for (const auto& c : t.columns()) {
      std::string outputs = c.outputs(0);
      if (c.outputs_size() > 1)
        outputs += StrCat(" (+", c.outputs_size() - 1, ")");
      table.Row({c.input(), std::string(table::ColumnTypeName(c.input_type())),
                 Steps(c), outputs});
    }
    table.Print();
    return kOk;
  }
  if (int rc = CheckFlags(args, {"keys", "as-of", "features", "transformed"});
      rc != kOk)
    return rc;
  if (!args.Has("keys")) return UsageError("features get: --keys is required");
  v1::GetOnlineFeaturesRequest req;
  req.set_feature_set(pos[2]);
  for (auto k : absl::StrSplit(args.Get("keys"), ','))
    req.add_keys(std::string(k));
  if (args.Has("features")) {
    for (auto f : absl::StrSplit(args.Get("features"), ','))
      req.add_features(std::string(f));
  }
  if (args.Has("as-of")) {
    absl::Time t;
    if (!ParseTimeArg(args.Get("as-of"), &t)) {
      return UsageError(StrCat("--as-of: '", args.Get("as-of"),
                               "' is not a time: expected ", kTimeArgForms));
    }
    auto* ts = req.add_as_of();
    ts->set_seconds(absl::ToUnixSeconds(t));
    ts->set_nanos(static_cast<int32_t>(
        absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(ts->seconds()))));
  }
  req.set_include_raw(true);
  UnaryCall call;
  v1::GetOnlineFeaturesResponse resp;
  if (auto s = stub->GetOnlineFeatures(&call, req, &resp); !s.ok())
    return Fail(s, ctx);
  int missing = 0;
  for (const auto& v : resp.vectors()) missing += !v.found();
  const bool no_raw = resp.raw_columns().empty();
  Print(ctx, resp, [&] {
    if (!no_raw) PrintOnlineRows(resp, /*transformed=*/false);
    if (no_raw || args.Has("transformed") || args.Has("features")) {
      if (!no_raw) std::cout << "\ntransformed (" << pos[2] << ")\n";
      PrintOnlineRows(resp, /*transformed=*/true);
    }
    if (no_raw) {
      std::cerr << "note: this online view has no raw values yet (made "
                   "before they were kept): the prep service adds them at its "
                   "start and at the dataset's next ingest\n";
    }
  });
  return missing == 0 ? kOk : kNotFound;
}

int RunSkew(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"version-a", "version-b", "threshold",
                                 "exclude", "label", "schema", "environment"});
      rc != kOk)
    return rc;
  const auto& pos = args.positional();
  if (pos.size() < 3) return UsageError("skew: DATASET_A DATASET_B required");
  v1::CompareStatisticsRequest req;
  req.set_dataset_a(pos[1]);
  req.set_dataset_b(pos[2]);
  if (args.Has("version-a")) req.set_version_a(args.Int("version-a"));
  if (args.Has("version-b")) req.set_version_b(args.Int("version-b"));
  if (args.Has("threshold")) req.set_threshold(args.Number("threshold"));
  for (const char* flag : {"exclude", "label"}) {
    for (absl::string_view c :
         absl::StrSplit(args.Get(flag), ',', absl::SkipEmpty()))
      req.add_exclude_columns(std::string(c));
  }
  if (args.Has("schema")) {
    if (int rc = ReadSchema(args.Get("schema"), req.mutable_schema());
        rc != kOk)
      return rc;
  }
  req.set_environment(args.Get("environment"));
  auto stub = v1::Prep::NewStub(ctx.channel);
  UnaryCall call;
  v1::CompareStatisticsResponse resp;
  if (auto s = stub->CompareStatistics(&call, req, &resp); !s.ok())
    return Fail(s, ctx);
  Print(ctx, resp, [&] {
    TablePrinter t({"COLUMN", "MEASURE", "DISTANCE", "SKEWED", "MISSING A",
                    "MISSING B", "NOTE"});
    for (const auto& c : resp.columns()) {
      t.Row({c.column(), c.measure(), FormatNumber(c.distance(), 6),
             c.skewed() ? "yes" : "no", FormatNumber(c.missing_a(), 6),
             FormatNumber(c.missing_b(), 6), c.note()});
    }
    t.Print();
    std::cout << "\n"
              << resp.skewed() << " of " << resp.columns_size()
              << " columns skewed";
    if (!resp.excluded().empty())
      std::cout << "; not compared: " << absl::StrJoin(resp.excluded(), ", ");
    std::cout << "\n";
  });
  return resp.skewed() == 0 ? kOk : kRejected;
}

}  // namespace mlpipe::cli
