#include "cli/audit_commands.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "mlpipe/v1/audit.grpc.pb.h"

namespace mlpipe::cli {
namespace {

// "90m", "2h", "7d" before now, or a time (ParseTimeArg).
bool ParseSince(const std::string& text, absl::Time* out) {
  absl::Duration d;
  if (text.size() > 1 && text.back() == 'd') {
    int days = 0;
    if (!absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) || days < 0)
      return false;
    *out = absl::Now() - absl::Hours(24) * days;
    return true;
  }
  if (absl::ParseDuration(text, &d) && d >= absl::ZeroDuration()) {
    *out = absl::Now() - d;
    return true;
  }
  return ParseTimeArg(text, out);
}

}  // namespace

int RunAudit(const Args& args, Context& ctx) {
  const auto& pos = args.positional();
  if (pos.size() != 2 || pos[1] != "list")
    return UsageError(
        "usage: mlpipe audit list [--since 1h|7d|RFC3339] [--principal P] "
        "[--method M] [--limit N] [--page-token T]");
  if (int rc = CheckFlags(
          args, {"since", "principal", "method", "limit", "page-token"});
      rc != kOk)
    return rc;
  v1::ListAuditRecordsRequest req;
  if (args.Has("since")) {
    absl::Time since;
    if (!ParseSince(args.Get("since"), &since))
      return UsageError(
          "--since takes a duration before now (90m, 2h, 7d) or an RFC 3339 "
          "time (2026-12-01T00:00:00Z)");
    *req.mutable_since() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
            absl::ToUnixMicros(since));
  }
  req.set_principal(args.Get("principal"));
  req.set_method(args.Get("method"));
  req.set_limit(args.Limit());
  req.set_page_token(args.Get("page-token"));
  UnaryCall call;
  v1::ListAuditRecordsResponse resp;
  if (auto s =
          v1::Audit::NewStub(ctx.channel)->ListAuditRecords(&call, req, &resp);
      !s.ok())
    return Fail(s, ctx);
  Print(ctx, resp, [&] {
    TablePrinter t({"TIME (UTC)", "PRINCIPAL", "METHOD", "TARGET", "OUTCOME"});
    for (const auto& r : resp.records()) {
      std::string outcome = r.outcome();
      if (!r.message().empty()) outcome += ": " + r.message();
      t.Row({FormatTime(r.time()), r.principal(), r.method(), r.target(),
             outcome});
    }
    t.Print();
    if (!resp.next_page_token().empty()) {
      std::cerr << "more records: add --page-token " << resp.next_page_token()
                << "\n";
    }
  });
  return kOk;
}

}  // namespace mlpipe::cli
