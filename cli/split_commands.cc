#include "cli/split_commands.h"

#include <cstdio>

#include "absl/strings/str_split.h"
#include "common/ops/operation_client.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/split_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

std::string Percent(double f) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.1f%%", 100 * f);
  return buf;
}

std::string Source(const v1::Split& s) {
  return s.feature_set().empty() ? StrCat(s.dataset(), "@v", s.version())
                                 : StrCat(s.feature_set(), " (", s.dataset(),
                                          "@v", s.version(), ")");
}

std::string PartRows(const v1::Split& s) {
  std::string out;
  for (const auto& p : s.parts())
    StrAppend(&out, out.empty() ? "" : " ", p.name(), "=",
              FormatCount(p.rows()));
  return out;
}

// The label distribution of a part: the classes' shares (the first few), or
// the mean and spread of a continuous label.
std::string LabelSummary(const v1::Split& s, const v1::SplitPartInfo& p) {
  std::string out;
  if (s.label_kind() == "classes") {
    int shown = 0;
    for (const auto& c : p.classes()) {
      if (++shown > 4) {
        StrAppend(&out, " ...");
        break;
      }
      StrAppend(&out, out.empty() ? "" : ", ", c.value(), " ",
                Percent(c.fraction()));
    }
  } else if (s.label_kind() == "continuous") {
    out = StrCat("mean ", FormatNumber(p.label_mean()), " sd ",
                 FormatNumber(p.label_stddev()), " [",
                 FormatNumber(p.label_min()), ", ", FormatNumber(p.label_max()),
                 "]");
  }
  return out;
}

void PrintSplit(const v1::Split& s) {
  const auto& spec = s.spec();
  std::cout << "split        " << s.id() << "\n"
            << "source       " << Source(s) << ", " << FormatCount(s.num_rows())
            << " rows\n"
            << "strategy     " << spec.strategy() << " (seed " << spec.seed()
            << ")";
  if (!spec.column().empty()) std::cout << ", column " << spec.column();
  if (!spec.group_column().empty())
    std::cout << ", groups " << spec.group_column();
  std::cout << "\n";
  if (!spec.label().empty())
    std::cout << "label        " << spec.label() << " (" << s.label_kind()
              << ")\n";
  if (s.unassigned_rows() > 0)
    std::cout << "unassigned   " << FormatCount(s.unassigned_rows())
              << " rows\n";
  std::cout << "created      " << FormatTime(s.created_at()) << "\n\n";
  TablePrinter t({"PART", "RATIO", "ROWS", "SHARE", "LABEL", "FOLDS"});
  for (const auto& p : s.parts()) {
    std::string folds;
    for (int64_t f : p.fold_rows())
      StrAppend(&folds, folds.empty() ? "" : "/", FormatCount(f));
    t.Row({p.name(), p.ratio() > 0 ? FormatNumber(p.ratio()) : "-",
           FormatCount(p.rows()), Percent(p.fraction()), LabelSummary(s, p),
           folds});
  }
  t.Print();
  if (s.warnings_size() > 0) {
    std::cout << "\nwarnings\n";
    for (const auto& w : s.warnings())
      std::cout << "  " << w.code() << ": " << w.message() << "\n";
  }
}

int Create(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(
          args, {"feature-set", "dataset", "version", "strategy", "ratios",
                 "seed", "label", "column", "group-column", "folds"});
      rc != kOk)
    return rc;
  v1::SplitSpec spec;
  spec.set_feature_set(args.Get("feature-set"));
  spec.set_dataset(args.Get("dataset"));
  try {
    if (args.Has("version")) spec.set_version(std::stoll(args.Get("version")));
    if (args.Has("seed")) spec.set_seed(std::stoull(args.Get("seed")));
    if (args.Has("folds")) spec.set_folds(std::stoi(args.Get("folds")));
    if (args.Has("ratios")) {
      for (auto kv : absl::StrSplit(args.Get("ratios"), ',')) {
        std::vector<std::string> parts = absl::StrSplit(kv, '=');
        if (parts.size() != 2)
          return UsageError(
              "--ratios: expected name=ratio,... e.g. train=0.8,test=0.2");
        auto* p = spec.add_parts();
        p->set_name(parts[0]);
        p->set_ratio(std::stod(parts[1]));
      }
    }
  } catch (const std::exception&) {
    return UsageError("--version, --seed, --folds and --ratios take numbers");
  }
  spec.set_strategy(args.Get("strategy"));
  spec.set_label(args.Get("label"));
  spec.set_column(args.Get("column"));
  spec.set_group_column(args.Get("group-column"));
  auto stub = v1::Splits::NewStub(ctx.channel);
  UnaryCall call;
  v1::Operation op;
  if (auto s = stub->CreateSplit(&call, spec, &op); !s.ok())
    return Fail(s, ctx);
  auto ended = ops::WatchToEnd(ctx.channel, op);
  auto split = ended.ok() ? ops::OperationResult<v1::Split>(*ended)
                          : absl::StatusOr<v1::Split>(ended.status());
  if (!split.ok()) return Fail(rpc::ToGrpcStatus(split.status()), ctx);
  Print(ctx, *split, [&] { PrintSplit(*split); });
  return kOk;
}

}  // namespace

int RunSplits(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  std::string sub = pos.size() > 1 ? pos[1] : "";
  auto stub = v1::Splits::NewStub(ctx.channel);
  if (sub == "list") {
    if (int rc = CheckFlags(args, {"dataset"}); rc != kOk) return rc;
    UnaryCall call;
    v1::ListSplitsRequest req;
    req.set_dataset(args.Get("dataset"));
    v1::ListSplitsResponse resp;
    if (auto s = stub->ListSplits(&call, req, &resp); !s.ok())
      return Fail(s, ctx);
    Print(ctx, resp, [&] {
      TablePrinter t(
          {"SPLIT", "SOURCE", "STRATEGY", "PARTS", "WARNINGS", "CREATED"});
      for (const auto& s : resp.splits()) {
        t.Row({s.id(), Source(s), s.spec().strategy(), PartRows(s),
               std::to_string(s.warnings_size()), FormatTime(s.created_at())});
      }
      t.Print();
    });
    return kOk;
  }
  if (sub == "show" && pos.size() >= 3) {
    if (int rc = CheckFlags(args, {}); rc != kOk) return rc;
    UnaryCall call;
    v1::GetSplitRequest req;
    req.set_id(pos[2]);
    v1::Split split;
    if (auto s = stub->GetSplit(&call, req, &split); !s.ok())
      return Fail(s, ctx);
    Print(ctx, split, [&] { PrintSplit(split); });
    return kOk;
  }
  if (sub == "create") return Create(args, ctx);
  return UsageError("splits list | splits show ID | splits create ...");
}

}  // namespace mlpipe::cli
