#include "cli/score_commands.h"

#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/dataset_commands.h"
#include "cli/rollout_commands.h"
#include "common/ops/operation_client.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "google/protobuf/util/json_util.h"
#include "mlpipe/v1/score_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

std::string Targets(const v1::Route& r) {
  std::string s;
  for (const auto& t : r.targets())
    StrAppend(&s, s.empty() ? "" : ", ", t.model_version(), " ",
              FormatNumber(t.percent(), 3), "%");
  return s;
}

// Why a revision was made: the reason given, and what a rollback restored.
std::string Reason(const v1::Route& r) {
  std::string s;
  if (r.restores() > 0) s = StrCat("revision ", r.restores(), " again");
  if (!r.reason().empty()) StrAppend(&s, s.empty() ? "" : ": ", r.reason());
  return s.empty() ? "-" : s;
}

void PrintRoutes(const google::protobuf::RepeatedPtrField<v1::Route>& routes,
                 bool with_alias) {
  std::vector<std::string> header = {"TARGETS", "SHADOWS",  "FALLBACK",
                                     "BUDGET",  "REVISION", "UPDATED",
                                     "BY",      "REASON"};
  if (with_alias) header.insert(header.begin(), "ALIAS");
  TablePrinter t(header);
  for (const auto& r : routes) {
    std::vector<std::string> row = {
        r.targets().empty() ? "(undeployed)" : Targets(r),
        r.shadows().empty() ? "-" : absl::StrJoin(r.shadows(), ", "),
        r.fallback().empty() ? "-" : r.fallback(),
        r.latency_budget_ms() > 0
            ? FormatNumber(r.latency_budget_ms(), 3) + " ms"
            : "-",
        StrCat(r.revision()),
        FormatTime(r.updated_at()),
        r.updated_by(),
        Reason(r)};
    if (with_alias) row.insert(row.begin(), r.alias());
    t.Row(row);
  }
  t.Print();
}

void PrintVersions(
    const google::protobuf::RepeatedPtrField<v1::LoadedVersion>& versions) {
  TablePrinter t(
      {"VERSION", "STATE", "ALGORITHM", "ALIASES", "LOADED", "LOAD TIME"});
  for (const auto& v : versions) {
    std::string state = v1::VersionState_Name(v.state());
    if (!v.error().empty()) StrAppend(&state, ": ", v.error());
    t.Row({v.model_version(), state,
           v.algorithm().empty() ? "-" : v.algorithm(),
           v.aliases().empty() ? "-" : absl::StrJoin(v.aliases(), ","),
           v.has_loaded_at() ? FormatTime(v.loaded_at()) : "-",
           v.load_seconds() > 0 ? FormatNumber(v.load_seconds(), 3) + " s"
                                : "-"});
  }
  t.Print();
}

void PrintDeployments(const v1::ListDeploymentsResponse& r) {
  std::cout << "default alias: " << r.default_alias()
            << (r.ready() ? "  (ready)" : "  (loading)") << "\n\n";
  if (r.routes().empty()) {
    std::cout << "nothing deployed\n";
    return;
  }
  PrintRoutes(r.routes(), true);
  std::cout << "\n";
  PrintVersions(r.versions());
}

void PrintPredictions(const v1::PredictResponse& r) {
  std::cout << "model " << r.model_version();
  if (!r.alias().empty()) std::cout << " (alias " << r.alias() << ")";
  if (r.fallback()) std::cout << " - answered by the fallback version";
  std::cout << "\n";
  std::vector<std::string> header = {"ROW", "PREDICTION ID"};
  const bool classes = r.task() == v1::BINARY || r.task() == v1::MULTICLASS;
  if (classes) {
    header.push_back("LABEL");
    for (const auto& c : r.classes()) header.push_back("P(" + c + ")");
  } else if (r.task() == v1::CLUSTERING) {
    header.push_back("CLUSTER");
  } else {
    header.push_back("VALUE");
  }
  TablePrinter t(header);
  for (int i = 0; i < r.predictions_size(); ++i) {
    const auto& p = r.predictions(i);
    std::vector<std::string> row = {StrCat(i), p.prediction_id()};
    if (classes) {
      row.push_back(p.label());
      for (double x : p.probabilities()) row.push_back(FormatNumber(x));
    } else if (r.task() == v1::CLUSTERING) {
      row.push_back(StrCat(p.cluster()));
    } else {
      row.push_back(FormatNumber(p.value(), 6));
    }
    t.Row(row);
  }
  t.Print();
}

void PrintBatch(const v1::BatchScoring& j) {
  std::cout << "batch scoring  " << j.id() << "\n"
            << "model          " << j.model_version() << "\n"
            << "rows           " << j.source() << ", " << FormatCount(j.rows())
            << " rows in " << j.chunks() << " chunks\n"
            << "columns        " << absl::StrJoin(j.columns(), ", ") << "\n"
            << "took           " << FormatNumber(j.seconds(), 3) << " s ("
            << FormatCount(static_cast<int64_t>(
                   j.seconds() > 0 ? j.rows() / j.seconds() : 0))
            << " rows/s)\n";
}

int ExportBatch(const std::string& id, const std::string& out, Context& ctx) {
  auto stub = v1::Scoring::NewStub(ctx.channel);
  v1::ReadBatchScoresRequest req;
  req.set_id(id);
  return WriteFramesAsCsv(
      [&](grpc::ClientContext* call) {
        return stub->ReadBatchScores(call, req);
      },
      out, "batch scoring " + id, ctx);
}

}  // namespace

int RunDeploy(const Args& args, Context& ctx) {
  if (int rc =
          CheckFlags(args, {"alias", "canary", "shadow", "traffic",
                            "latency-budget-ms", "by", "force-schema-change"});
      rc != kOk)
    return rc;
  const auto& pos = args.positional();
  if (pos.size() < 2 && !args.Has("traffic")) {
    return UsageError(
        "deploy MODEL_VERSION [--alias A] [--canary PERCENT] [--shadow] "
        "[--latency-budget-ms X] | deploy --traffic \"m:1=90,m:2=10\"");
  }
  double fixed_share;
  if (args.Has("canary") &&
      !absl::SimpleAtod(args.Get("canary"), &fixed_share)) {
    // Not a share: a rollout plan, driven by the monitor's analysis.
    if (pos.size() < 2 || args.Has("shadow") || args.Has("traffic") ||
        args.Has("latency-budget-ms") || args.Has("force-schema-change"))
      return UsageError(
          "deploy MODEL_VERSION --canary PLAN takes only --alias and --by");
    return StartRollout(pos[1], args.Get("alias"), args.Get("canary"),
                        args.Get("by", ctx.author), ctx);
  }
  v1::DeployRequest req;
  if (pos.size() >= 2) req.set_model_version(pos[1]);
  req.set_alias(args.Get("alias"));
  req.set_shadow(args.Has("shadow"));
  req.set_force_schema_change(args.Has("force-schema-change"));
  req.set_set_by(args.Get("by", ctx.author));
  try {
    if (args.Has("canary"))
      req.set_traffic_percent(std::stod(args.Get("canary")));
    if (args.Has("latency-budget-ms"))
      req.set_latency_budget_ms(std::stod(args.Get("latency-budget-ms")));
    for (absl::string_view part :
         absl::StrSplit(args.Get("traffic"), ',', absl::SkipEmpty())) {
      std::vector<std::string> kv = absl::StrSplit(part, '=');
      if (kv.size() != 2) throw std::invalid_argument("traffic");
      auto* t = req.add_traffic();
      t->set_model_version(kv[0]);
      t->set_percent(std::stod(kv[1]));
    }
  } catch (const std::exception&) {
    return UsageError(
        "--canary and --latency-budget-ms take numbers; --traffic takes "
        "VERSION=PERCENT,...");
  }
  auto stub = v1::Scoring::NewStub(ctx.channel);
  UnaryCall call;
  v1::DeployResponse resp;
  if (auto s = stub->Deploy(&call, req, &resp); !s.ok()) return Fail(s, ctx);
  Print(ctx, resp, [&] {
    std::cout << "alias " << resp.route().alias() << " revision "
              << resp.route().revision() << "\n";
    google::protobuf::RepeatedPtrField<v1::Route> one;
    *one.Add() = resp.route();
    PrintRoutes(one, true);
    std::cout << "\n";
    PrintVersions(resp.versions());
  });
  return kOk;
}

int RunUndeploy(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"alias", "by"}); rc != kOk) return rc;
  const auto& pos = args.positional();
  if (pos.size() < 2) return UsageError("undeploy MODEL_VERSION [--alias A]");
  v1::UndeployRequest req;
  req.set_model_version(pos[1]);
  req.set_alias(args.Get("alias"));
  req.set_set_by(args.Get("by", ctx.author));
  auto stub = v1::Scoring::NewStub(ctx.channel);
  UnaryCall call;
  v1::ListDeploymentsResponse resp;
  if (auto s = stub->Undeploy(&call, req, &resp); !s.ok()) return Fail(s, ctx);
  Print(ctx, resp, [&] { PrintDeployments(resp); });
  return kOk;
}

int RunRollback(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"alias", "reason", "by"}); rc != kOk)
    return rc;
  v1::RollbackRequest req;
  req.set_alias(args.Get("alias"));
  req.set_reason(args.Get("reason"));
  req.set_set_by(args.Get("by", ctx.author));
  auto stub = v1::Scoring::NewStub(ctx.channel);
  UnaryCall call;
  v1::Route resp;
  if (auto s = stub->Rollback(&call, req, &resp); !s.ok()) return Fail(s, ctx);
  Print(ctx, resp, [&] {
    std::cout << "rolled back '" << resp.alias() << "' to revision "
              << resp.restores() << "'s route (" << Targets(resp)
              << "), as revision " << resp.revision()
              << (resp.reason().empty() ? "" : ": " + resp.reason()) << "\n";
  });
  return kOk;
}

int RunDeployments(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "list";
  if (int rc = CheckFlags(args, {}); rc != kOk) return rc;
  auto stub = v1::Scoring::NewStub(ctx.channel);
  if (sub == "list") {
    UnaryCall call;
    v1::ListDeploymentsResponse resp;
    if (auto s = stub->ListDeployments(&call, {}, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { PrintDeployments(resp); });
    return kOk;
  }
  if (sub == "history") {
    v1::RouteHistoryRequest req;
    if (pos.size() > 2) req.set_alias(pos[2]);
    UnaryCall call;
    v1::RouteHistoryResponse resp;
    if (auto s = stub->RouteHistory(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { PrintRoutes(resp.routes(), true); });
    return kOk;
  }
  return UsageError("deployments list | deployments history [ALIAS]");
}

int RunPredict(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"model", "json", "file", "keys", "routing-key",
                                 "ignore-extra"});
      rc != kOk)
    return rc;
  int sources = args.Has("json") + args.Has("file") + args.Has("keys");
  if (sources != 1) {
    return UsageError(
        "predict [--model VERSION|ALIAS] (--json '{\"field\": ...}' | --file "
        "ROWS.jsonl | --keys k1,k2) [--routing-key K] [--ignore-extra]");
  }
  v1::PredictRequest req;
  req.set_model(args.Get("model"));
  req.set_routing_key(args.Get("routing-key"));
  req.set_ignore_extra_fields(args.Has("ignore-extra"));
  // `where`: "--json", or FILE:LINE (1-based, as editors count).
  auto parse = [&](const std::string& line, const std::string& where) -> bool {
    google::protobuf::Struct row;
    auto s = google::protobuf::util::JsonStringToMessage(line, &row);
    if (!s.ok()) {
      std::cerr << "error: " << where << ": not a JSON object: " << s.message()
                << "\n";
      return false;
    }
    *req.add_rows() = std::move(row);
    return true;
  };
  if (args.Has("json")) {
    std::string text = args.Get("json");
    // One object, or an array of them.
    google::protobuf::ListValue list;
    if (!text.empty() && text[0] == '[' &&
        google::protobuf::util::JsonStringToMessage(text, &list).ok()) {
      for (const auto& v : list.values()) *req.add_rows() = v.struct_value();
    } else if (!parse(text, "--json")) {
      return kRejected;
    }
  } else if (args.Has("file")) {
    std::ifstream in(args.Get("file"));
    if (!in) {
      std::cerr << "error: cannot read " << args.Get("file") << "\n";
      return kError;
    }
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      if (!parse(line, StrCat(args.Get("file"), ":", n))) return kRejected;
    }
  } else {
    for (absl::string_view k :
         absl::StrSplit(args.Get("keys"), ',', absl::SkipEmpty()))
      req.add_entity_keys(std::string(k));
  }
  auto stub = v1::Scoring::NewStub(ctx.channel);
  UnaryCall call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::PredictResponse resp;
  if (auto s = stub->Predict(&call, req, &resp); !s.ok()) return Fail(s, ctx);
  Print(ctx, resp, [&] { PrintPredictions(resp); });
  return kOk;
}

int RunBatchScore(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  auto stub = v1::Scoring::NewStub(ctx.channel);
  if (sub == "list") {
    if (int rc = CheckFlags(args, {"limit"}); rc != kOk) return rc;
    v1::ListBatchScoringsRequest req;
    req.set_limit(std::atoi(args.Get("limit", "0").c_str()));
    UnaryCall call;
    v1::ListBatchScoringsResponse resp;
    if (auto s = stub->ListBatchScorings(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] {
      TablePrinter t({"ID", "MODEL", "SOURCE", "ROWS", "SECONDS", "CREATED"});
      for (const auto& j : resp.jobs())
        t.Row({j.id(), j.model_version(), j.source(), FormatCount(j.rows()),
               FormatNumber(j.seconds(), 3), FormatTime(j.created_at())});
      t.Print();
    });
    return kOk;
  }
  if ((sub == "show" || sub == "export") && pos.size() >= 3) {
    if (int rc = CheckFlags(args, {"out"}); rc != kOk) return rc;
    if (sub == "export") {
      if (!args.Has("out")) return UsageError("batch-score export ID --out F");
      return ExportBatch(pos[2], args.Get("out"), ctx);
    }
    v1::GetBatchScoringRequest req;
    req.set_id(pos[2]);
    UnaryCall call;
    v1::BatchScoring j;
    if (auto s = stub->GetBatchScoring(&call, req, &j); !s.ok())
      return Fail(s, ctx);
    Print(ctx, j, [&] { PrintBatch(j); });
    return kOk;
  }
  if (!sub.empty()) {
    return UsageError(
        "batch-score --model M (--dataset D [--version N] | --feature-set FS) "
        "[--keep a,b] [--out FILE.csv] | batch-score list | show ID | export "
        "ID --out FILE.csv");
  }
  if (int rc = CheckFlags(
          args, {"model", "dataset", "version", "feature-set", "keep", "out"});
      rc != kOk)
    return rc;
  if (!args.Has("model") || args.Has("dataset") == args.Has("feature-set")) {
    return UsageError(
        "batch-score --model M (--dataset D [--version N] | --feature-set FS) "
        "[--keep a,b] [--out FILE.csv]");
  }
  v1::StartBatchScoringRequest req;
  req.set_model(args.Get("model"));
  req.set_dataset(args.Get("dataset"));
  req.set_feature_set(args.Get("feature-set"));
  req.set_dataset_version(std::atoll(args.Get("version", "0").c_str()));
  for (absl::string_view k :
       absl::StrSplit(args.Get("keep"), ',', absl::SkipEmpty()))
    req.add_keep_columns(std::string(k));
  UnaryCall call;
  v1::Operation op;
  if (auto s = stub->StartBatchScoring(&call, req, &op); !s.ok())
    return Fail(s, ctx);
  Progress progress("batch-score " + req.model(), 0);
  auto ended = ops::WatchToEnd(ctx.channel, op, nullptr);
  progress.Done();
  auto j = ended.ok() ? ops::OperationResult<v1::BatchScoring>(*ended)
                      : absl::StatusOr<v1::BatchScoring>(ended.status());
  if (!j.ok()) return Fail(rpc::ToGrpcStatus(j.status()), ctx);
  Print(ctx, *j, [&] { PrintBatch(*j); });
  if (args.Has("out")) return ExportBatch(j->id(), args.Get("out"), ctx);
  return kOk;
}

}  // namespace mlpipe::cli
