#include "cli/eval_commands.h"

#include <fstream>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "clients/registry_client.h"
#include "common/eval/metrics.h"
#include "common/eval/report.h"
#include "common/ops/operation_client.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "mlpipe/v1/evaluate_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

std::string Key(const google::protobuf::RepeatedPtrField<v1::SliceKey>& key) {
  std::string s;
  for (const auto& k : key)
    StrAppend(&s, s.empty() ? "" : ", ", k.column(), "=", k.value());
  return s;
}

std::string Verdict(const v1::ModelEvaluation& m) {
  if (!m.has_verdict()) return "baseline";
  return m.verdict().blessed() ? "blessed" : "rejected";
}

void PrintEvaluations(
    const google::protobuf::RepeatedPtrField<v1::Evaluation>& list) {
  TablePrinter t(
      {"EVALUATION", "CANDIDATES", "BASELINE", "METRIC", "BEST", "BLESSED"});
  for (const auto& e : list) {
    std::string candidates;
    for (const auto& c : e.candidates())
      StrAppend(&candidates, candidates.empty() ? "" : ",", c.model());
    std::string best = e.best_model();
    for (const auto& c : e.candidates()) {
      if (c.model() == best)
        StrAppend(&best, " ",
                  FormatNumber(eval::Find(c.metrics().metrics(), e.metric())));
    }
    t.Row({e.id(), candidates, e.has_baseline() ? e.baseline().model() : "-",
           e.metric(), best, e.blessed() ? "yes" : "no"});
  }
  t.Print();
}

void PrintEvaluation(const v1::Evaluation& e) {
  std::vector<const v1::ModelEvaluation*> models;
  for (const auto& c : e.candidates()) models.push_back(&c);
  if (e.has_baseline()) models.push_back(&e.baseline());
  std::cout << "evaluation   " << e.id() << "\n"
            << "rows         split " << e.split() << " part " << e.part()
            << (models.empty()
                    ? std::string()
                    : ", " + FormatCount(models.front()->metrics().rows()) +
                          " rows")
            << "\n"
            << "compared by  " << e.metric() << "\n"
            << "best         " << e.best_model()
            << (e.blessed() ? " (blessed)" : " (not blessed)") << "\n"
            << "baseline     "
            << (e.has_baseline() ? e.baseline().model() + " (alias " +
                                       e.baseline_alias() + ")"
                                 : std::string("none"))
            << "\n\n";
  if (models.empty()) return;
  std::vector<std::string> header = {"METRIC"};
  for (const auto* m : models) header.push_back(m->model());
  TablePrinter t(header);
  for (const auto& name : eval::MetricsFor(models.front()->metrics().task())) {
    std::vector<std::string> row = {name};
    for (const auto* m : models) {
      std::string cell = FormatNumber(eval::Find(m->metrics().metrics(), name));
      const auto& ci = m->metrics().interval();
      if (ci.metric() == name && ci.resamples() > 0)
        StrAppend(&cell, " [", FormatNumber(ci.low()), ", ",
                  FormatNumber(ci.high()), "]");
      row.push_back(cell);
    }
    t.Row(row);
  }
  t.Print();
  for (const auto* m : models) {
    std::cout << "\n"
              << m->model() << " (" << m->algorithm() << "): " << Verdict(*m)
              << "\n";
    if (m->has_verdict()) {
      for (const auto& r : m->verdict().reasons())
        std::cout << "  - " << r << "\n";
    }
    const auto& x = m->metrics();
    if (x.task() == v1::BINARY) {
      const auto& c = x.chosen();
      std::cout << "  threshold " << FormatNumber(c.threshold()) << " (best "
                << c.criterion() << "): precision "
                << FormatNumber(c.precision()) << ", recall "
                << FormatNumber(c.recall()) << ", f1 " << FormatNumber(c.f1())
                << "\n";
    }
    if (m->slices_size() > 0) {
      TablePrinter s({"  SLICE", "ROWS", e.metric()});
      for (const auto& sl : m->slices()) {
        s.Row({"  " + Key(sl.key()) + (sl.too_small() ? " (too few)" : ""),
               FormatCount(sl.rows()),
               FormatNumber(eval::Find(sl.metrics(), e.metric()))});
      }
      s.Print();
      for (const auto& g : m->gaps()) {
        std::cout << "  widest gap " << FormatNumber(g.gap()) << " "
                  << g.metric() << ": " << Key(g.best()) << " "
                  << FormatNumber(g.best_value()) << " vs " << Key(g.worst())
                  << " " << FormatNumber(g.worst_value()) << "\n";
      }
    }
  }
}

// eval run: starts an evaluation, waits for it, shows it. Exit 0 when the
// best candidate is blessed, 4 for a rejected request, 6 when the
// evaluation fails or nothing is blessed (so scripts can gate on it).
int RunEvaluation(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"models", "baseline", "alias", "split", "part",
                                 "slices", "metric", "min-improvement",
                                 "require-baseline", "threshold", "resamples"});
      rc != kOk)
    return rc;
  if (!args.Has("models"))
    return UsageError(
        "eval run --models A[,B...] [--baseline MODEL | --alias NAME] "
        "[--split S] [--part P] [--slices \"Home;Home,Job;Age:4\"] "
        "[--metric M]");
  v1::EvaluateRequest req;
  for (absl::string_view m : absl::StrSplit(args.Get("models"), ','))
    if (!m.empty()) req.add_models(std::string(m));
  req.set_split(args.Get("split"));
  req.set_part(args.Get("part"));
  req.set_metric(args.Get("metric"));
  // "Home;Home,Job;Age:4": columns, crossed by ',', numbers in N ranges.
  for (absl::string_view spec : absl::StrSplit(args.Get("slices"), ';')) {
    if (spec.empty()) continue;
    auto* s = req.add_slices();
    std::pair<absl::string_view, absl::string_view> cut =
        absl::StrSplit(spec, absl::MaxSplits(':', 1));
    int buckets = 0;
    if (!cut.second.empty() && !absl::SimpleAtoi(cut.second, &buckets))
      return UsageError("--slices: after ':' comes a number of buckets");
    s->set_buckets(buckets);
    for (absl::string_view c : absl::StrSplit(cut.first, ','))
      s->add_columns(std::string(c));
  }
  try {
    if (args.Has("min-improvement"))
      req.mutable_gate()->set_min_improvement(
          std::stod(args.Get("min-improvement")));
    if (args.Has("threshold"))
      req.set_threshold(std::stod(args.Get("threshold")));
    if (args.Has("resamples"))
      req.set_bootstrap_resamples(std::stoi(args.Get("resamples")));
  } catch (const std::exception&) {
    return UsageError(
        "--min-improvement, --threshold, --resamples take numbers");
  }
  req.mutable_gate()->set_require_baseline(args.Has("require-baseline"));
  if (args.Has("baseline")) {
    req.set_baseline_model(args.Get("baseline"));
  } else if (args.Has("alias")) {
    // What the alias of the candidates' model points to now, from the
    // orchestrator's registry.
    std::string alias;
    auto baseline = orchestrator::ResolveAliasOf(
        ctx.channel, req.models().empty() ? "" : req.models(0),
        args.Get("alias"), &alias);
    if (!baseline.ok()) return Fail(rpc::ToGrpcStatus(baseline.status()), ctx);
    if (!baseline->empty()) {
      req.set_baseline_model(*baseline);
      req.set_baseline_alias(alias);
    }
  }
  auto stub = v1::Evaluator::NewStub(ctx.channel);
  UnaryCall call;
  v1::Operation op;
  if (auto s = stub->Evaluate(&call, req, &op); !s.ok()) return Fail(s, ctx);
  auto ended = ops::WatchToEnd(ctx.channel, op);
  auto e = ended.ok() ? ops::OperationResult<v1::Evaluation>(*ended)
                      : absl::StatusOr<v1::Evaluation>(ended.status());
  // Could not evaluate: the code of why (3 a model not found, 4 bad input,
  // ...); evaluated and not blessed: 6, the verdict.
  if (!e.ok()) return Fail(rpc::ToGrpcStatus(e.status()), ctx);
  Print(ctx, *e, [&] { PrintEvaluation(*e); });
  return e->blessed() ? kOk : kNegative;
}

}  // namespace

int RunEval(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  if (sub == "run") return RunEvaluation(args, ctx);
  auto stub = v1::Evaluator::NewStub(ctx.channel);
  if (sub == "list") {
    if (int rc = CheckFlags(args, {"model", "limit"}); rc != kOk) return rc;
    v1::ListEvaluationsRequest req;
    req.set_model(args.Get("model"));
    req.set_limit(std::atoi(args.Get("limit", "0").c_str()));
    UnaryCall call;
    v1::ListEvaluationsResponse resp;
    if (auto s = stub->ListEvaluations(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] { PrintEvaluations(resp.evaluations()); });
    return kOk;
  }
  if ((sub == "show" || sub == "report") && pos.size() >= 3) {
    if (int rc =
            CheckFlags(args, sub == "report" ? std::vector<std::string>{"html"}
                                             : std::vector<std::string>{});
        rc != kOk)
      return rc;
    if (sub == "report" && !args.Has("html"))
      return UsageError("eval report ID --html FILE");
    v1::GetEvaluationRequest req;
    req.set_id(pos[2]);
    UnaryCall call;
    v1::Evaluation e;
    if (auto s = stub->GetEvaluation(&call, req, &e); !s.ok())
      return Fail(s, ctx);
    if (sub == "show") {
      Print(ctx, e, [&] { PrintEvaluation(e); });
      return kOk;
    }
    std::ofstream out(args.Get("html"));
    out << eval::HtmlReport(e);
    out.close();
    if (!out) {
      std::cerr << "error: cannot write " << args.Get("html") << "\n";
      return kError;
    }
    std::cout << "wrote " << args.Get("html") << "\n";
    return kOk;
  }
  return UsageError(
      "eval run --models A,B [--baseline M | --alias NAME] | eval list | "
      "eval show ID | eval report ID --html FILE");
}

}  // namespace mlpipe::cli
