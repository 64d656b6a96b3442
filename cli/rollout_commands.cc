#include "cli/rollout_commands.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/monitor_client.h"
#include "common/config/pipeline_config.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "services/monitor/rollout_plan.h"
#include "services/monitor/rollout_report.h"

namespace mlpipe::cli {
namespace {

// The plan a --canary / --plan value names: "5,25,50,100", or a YAML file
// holding the `canary:` mapping (or a document whose only key is
// `canary:`).
absl::StatusOr<v1::RolloutPlan> PlanOf(const std::string& text) {
  if (text.find(',') != std::string::npos && !std::ifstream(text).good()) {
    google::protobuf::Value v;
    auto* steps = (*v.mutable_struct_value()->mutable_fields())["steps"]
                      .mutable_list_value();
    for (absl::string_view part :
         absl::StrSplit(text, ',', absl::SkipEmpty())) {
      double x;
      if (!absl::SimpleAtod(part, &x))
        return absl::InvalidArgumentError(
            StrCat("--canary: '", std::string(part), "' is not a number"));
      steps->add_values()->set_number_value(x);
    }
    return monitor::RolloutPlanFromValue(v);
  }
  std::ifstream in(text);
  if (!in) return absl::NotFoundError(StrCat("cannot read ", text));
  std::stringstream ss;
  ss << in.rdbuf();
  auto v = config::ParseYamlValue(ss.str(), text);
  if (!v.ok()) return v.status();
  const auto& f = v->struct_value().fields();
  auto it = f.find("canary");
  auto plan = monitor::RolloutPlanFromValue(
      it != f.end() && f.size() == 1 ? it->second : *v);
  if (!plan.ok()) {
    return absl::InvalidArgumentError(
        StrCat(text, ": ", std::string(plan.status().message())));
  }
  return plan;
}

void PrintRollout(const v1::Rollout& r) {
  const int steps = r.plan().steps_size() > 0 ? r.plan().steps_size() : 4;
  std::cout << "alias        " << r.alias() << "\n"
            << "canary       " << r.canary() << " against "
            << (r.primary().empty() ? "-" : r.primary()) << "\n"
            << "state        "
            << absl::AsciiStrToLower(v1::Rollout::State_Name(r.state()));
  if (r.state() == v1::Rollout::ABORTED) {
    std::cout << ", the route left as it was\n";
  } else {
    std::cout << ", canary at " << r.share() << "% (step " << r.step() + 1
              << " of " << steps << ")\n";
  }
  std::cout << "started      " << FormatMicros(r.started_micros()) << " UTC by "
            << r.started_by() << "\n";
  if (!r.reason().empty()) std::cout << "why          " << r.reason() << "\n";
  if (r.state() == v1::Rollout::RUNNING) {
    const double interval =
        r.plan().interval_seconds() > 0 ? r.plan().interval_seconds() : 600;
    const double next = (r.last_check_micros() / 1e6 + interval) -
                        absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
    std::cout << "next check   in " << FormatNumber(std::max(0.0, next), 3)
              << " s (every " << FormatNumber(interval, 4) << " s)\n";
  }
  if (!r.route_applied())
    std::cout << "route        not set yet"
              << (r.route_error().empty() ? "" : ": " + r.route_error())
              << "\n";
  const auto& c = r.canary_evidence();
  const auto& p = r.primary_evidence();
  std::cout << "evidence     canary " << FormatCount(c.requests())
            << " requests, " << FormatCount(c.errors()) << " errors, "
            << FormatCount(static_cast<int64_t>(c.performance().count()))
            << " actuals; primary " << FormatCount(p.requests())
            << " requests, " << FormatCount(p.errors()) << " errors, "
            << FormatCount(static_cast<int64_t>(p.performance().count()))
            << " actuals\n";
  if (r.checks().empty()) {
    std::cout << "decision     no check yet\n";
    return;
  }
  const auto& last = *r.checks().rbegin();
  std::cout << "decision     " << last.decision() << " ("
            << FormatMicros(last.time_micros()) << " UTC): " << last.reason()
            << "\n\n";
  TablePrinter t({"CRITERION", "CANARY-PRIMARY", "LOWER", "UPPER", "TOLERANCE",
                  "VERDICT", "WHY"});
  for (const auto& k : last.criteria()) {
    t.Row({k.name(), FormatNumber(k.estimate()), FormatNumber(k.lower()),
           FormatNumber(k.upper()), FormatNumber(k.bound()), k.verdict(),
           k.why()});
  }
  t.Print();
  std::cout << "prediction shift (PSI) "
            << FormatNumber(last.prediction_shift_psi()) << ", "
            << r.checks_size() << " check(s)\n";
}

int Status(const std::string& alias, const Args& args, Context& ctx) {
  v1::RolloutRequest req;
  req.set_alias(alias);
  UnaryCall call;
  v1::Rollout r;
  if (auto s = v1::Monitor::NewStub(ctx.channel)->GetRollout(&call, req, &r);
      !s.ok())
    return Fail(s, ctx);
  if (args.Has("html")) {
    std::ofstream out(args.Get("html"));
    out << monitor::RolloutHtmlReport(r);
    if (!out) {
      std::cerr << "error: cannot write " << args.Get("html") << "\n";
      return kError;
    }
    std::cerr << "wrote " << args.Get("html") << "\n";
  }
  Print(ctx, r, [&] { PrintRollout(r); });
  return kOk;
}

int Change(const std::string& sub, const std::string& alias, const Args& args,
           Context& ctx) {
  v1::RolloutRequest req;
  req.set_alias(alias);
  req.set_reason(args.Get("reason"));
  req.set_set_by(ctx.author);
  auto stub = v1::Monitor::NewStub(ctx.channel);
  UnaryCall call;
  v1::Rollout r;
  grpc::Status s = sub == "pause"    ? stub->PauseRollout(&call, req, &r)
                   : sub == "resume" ? stub->ResumeRollout(&call, req, &r)
                                     : stub->AbortRollout(&call, req, &r);
  if (!s.ok()) return Fail(s, ctx);
  Print(ctx, r, [&] { PrintRollout(r); });
  return kOk;
}

}  // namespace

int StartRollout(const std::string& version, const std::string& alias,
                 const std::string& plan_text, const std::string& by,
                 Context& ctx) {
  auto plan = PlanOf(plan_text);
  if (!plan.ok()) return Fail(rpc::ToGrpcStatus(plan.status()), ctx);
  v1::StartRolloutRequest req;
  req.set_model_version(version);
  req.set_alias(alias);
  *req.mutable_plan() = *plan;
  req.set_set_by(by);
  // As the deploy step: done once the first share is on the route.
  auto r = monitor::StartRolloutAndWait(ctx.channel, req, absl::Minutes(5));
  if (!r.ok()) return Fail(rpc::ToGrpcStatus(r.status()), ctx);
  Print(ctx, *r, [&] { PrintRollout(*r); });
  return kOk;
}

int RunRollout(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  const std::string sub = pos.size() > 1 ? pos[1] : "";
  const char* usage =
      "usage: mlpipe rollout start MODEL_VERSION [--alias A] [--plan FILE | "
      "--steps 5,25,50,100] | rollout status ALIAS [--html FILE] | rollout "
      "pause|resume|abort ALIAS [--reason R]";
  if (pos.size() != 3) return UsageError(usage);
  if (sub == "start") {
    if (int rc = CheckFlags(args, {"alias", "plan", "steps"}); rc != kOk)
      return rc;
    if (args.Has("plan") == args.Has("steps"))
      return UsageError("rollout start takes --plan FILE or --steps LIST");
    return StartRollout(
        pos[2], args.Get("alias"),
        args.Has("plan") ? args.Get("plan") : args.Get("steps") + ",",
        ctx.author, ctx);
  }
  if (sub == "status") {
    if (int rc = CheckFlags(args, {"html"}); rc != kOk) return rc;
    return Status(pos[2], args, ctx);
  }
  if (sub == "pause" || sub == "resume" || sub == "abort") {
    if (int rc = CheckFlags(args, {"reason"}); rc != kOk) return rc;
    return Change(sub, pos[2], args, ctx);
  }
  return UsageError(usage);
}

}  // namespace mlpipe::cli
