#include "cli/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "cli/structured_output.h"
#include "common/table/utf8.h"
#include "common/util/strings.h"
#include "google/protobuf/timestamp.pb.h"

namespace mlpipe::cli {

Args Args::Parse(int argc, char** argv, int first,
                 const std::vector<std::string>& switches) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) a.positional_.push_back(argv[i]);
      break;
    }
    if (arg.size() > 2 && arg.starts_with("--")) {
      std::string name = arg.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        a.flags_[name.substr(0, eq)] = name.substr(eq + 1);
      } else if (std::find(switches.begin(), switches.end(), name) !=
                 switches.end()) {
        a.flags_[name] = "true";
      } else if (i + 1 >= argc ||
                 std::string_view(argv[i + 1]).starts_with("--")) {
        // Never "true", nor the next flag taken as its value.
        if (a.missing_value_.empty()) a.missing_value_ = "--" + name;
        a.flags_[name] = "";
      } else {
        a.flags_[name] = argv[++i];
      }
    } else {
      a.positional_.push_back(arg);
    }
  }
  return a;
}

std::string Args::Get(const std::string& flag, const std::string& def) const {
  auto it = flags_.find(flag);
  return it == flags_.end() ? def : it->second;
}

int64_t Args::Int(const std::string& flag, int64_t def) const {
  if (!Has(flag)) return def;
  int64_t v = 0;
  if (!absl::SimpleAtoi(Get(flag), &v) ||
      Get(flag).find_first_of(" +") != std::string::npos) {
    throw FlagError("--" + flag + " takes a whole number, not '" + Get(flag) +
                    "'");
  }
  return v;
}

int32_t Args::Limit() const {
  const int64_t v = Int("limit");
  if (Has("limit") && v < 1)
    throw FlagError("--limit takes a whole number >= 1");
  return static_cast<int32_t>(std::min<int64_t>(v, 1'000'000));
}

double Args::Number(const std::string& flag, double def) const {
  if (!Has(flag)) return def;
  double v = 0;
  if (!absl::SimpleAtod(Get(flag), &v) || !std::isfinite(v) ||
      Get(flag).find(' ') != std::string::npos) {
    throw FlagError("--" + flag + " takes a number, not '" + Get(flag) + "'");
  }
  return v;
}

std::vector<std::string> Args::Unknown(
    const std::vector<std::string>& known) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : flags_) {
    if (std::find(known.begin(), known.end(), k) == known.end())
      out.push_back(k);
  }
  return out;
}

std::string Args::NotUtf8() const {
  constexpr auto kValid = std::string_view::npos;
  for (const auto& [flag, value] : flags_) {
    if (table::InvalidUtf8At(flag) != kValid ||
        table::InvalidUtf8At(value) != kValid)
      return "--" + flag;
  }
  for (size_t i = 0; i < positional_.size(); ++i) {
    if (table::InvalidUtf8At(positional_[i]) != kValid)
      return "argument " + std::to_string(i + 1);
  }
  return "";
}

namespace {

// Whether an UNAVAILABLE came from gRPC failing to reach the server (not
// from the server, which says why it cannot serve now).
bool Unreachable(const std::string& message) {
  for (const char* sign :
       {"failed to connect", "Connection refused", "connections to all",
        "DNS resolution failed", "Socket closed", "Connection reset",
        "Broken pipe", "GOAWAY", "Transport closed", "Endpoint read failed"}) {
    if (message.find(sign) != std::string::npos) return true;
  }
  return message.empty();
}

}  // namespace

int Fail(const grpc::Status& s, const Context& ctx) {
  std::string msg = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      if (!Unreachable(msg)) {  // The server answered: retry later.
        std::cerr << "error: " << msg << "\n";
        return kUnavailable;
      }
      std::cerr << "error: cannot reach the mlpipe server at " << ctx.server
                << " (" << msg << ")\n"
                << "hint: start it with `mlpipe-standalone` or pass --server "
                   "HOST:PORT\n";
      return kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      std::cerr << "error: the server at " << ctx.server
                << " did not answer in time\n";
      return kUnavailable;
    case grpc::StatusCode::NOT_FOUND:
      std::cerr << "error: " << msg << "\n";
      return kNotFound;
    case grpc::StatusCode::UNAUTHENTICATED:
      std::cerr << "error: " << msg << "\n"
                << "hint: pass a token the server's policy knows: --token-file "
                   "FILE or $MLPIPE_TOKEN\n";
      return kNotAllowed;
    case grpc::StatusCode::PERMISSION_DENIED:
      std::cerr << "error: " << msg << "\n";
      return kNotAllowed;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::OUT_OF_RANGE:
      std::cerr << "error: " << msg << "\n";
      return kRejected;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      std::cerr << "error: " << msg << "\n";
      return kBusy;
    case grpc::StatusCode::UNIMPLEMENTED:
      // What gRPC's blocking unary call reports for a reply it could not
      // parse (the server's status was OK).
      if (msg == "No message returned for unary request") {
        std::cerr << "error: " << kUnreadableReply << "\n";
        return kError;
      }
      [[fallthrough]];
    default:
      std::cerr << "error: " << msg << " (" << s.error_code() << ")\n";
      return kError;
  }
}

int CheckFlags(const Args& args, std::vector<std::string> known) {
  known.insert(known.end(),
               {"server", "output", "ingest-server", "tls-ca", "tls-cert",
                "tls-key", "token", "token-file", "context"});
  auto unknown = args.Unknown(known);
  if (!unknown.empty()) return UsageError("unknown flag --" + unknown.front());
  return kOk;
}

int UsageError(const std::string& message) {
  std::cerr << "error: " << message << "\nrun `mlpipe help` for usage\n";
  return kUsage;
}

std::vector<std::string> TablePrinter::Lines() const {
  std::vector<size_t> width(header_.size());
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  std::vector<std::string> lines;
  auto format = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    lines.push_back(std::move(line));
  };
  format(header_);
  for (const auto& r : rows_) format(r);
  return lines;
}

void TablePrinter::Print() const {
  for (const auto& line : Lines()) std::cout << line << "\n";
}

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_(start_) {}

void Progress::Update(int64_t done, int64_t rows) {
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  double secs =
      std::max(1e-6, std::chrono::duration<double>(now - start_).count());
  std::string line = "\r" + label_ + " ";
  if (total_ > 0) {
    int filled = static_cast<int>(30.0 * done / total_);
    filled = std::clamp(filled, 0, 30);
    line +=
        "[" + std::string(filled, '#') + std::string(30 - filled, ' ') + "] ";
    line += StrCat(static_cast<int>(100.0 * done / total_), "% ");
  }
  line += FormatBytes(done);
  if (total_ > 0) line += " / " + FormatBytes(total_);
  line += "  " + FormatCount(static_cast<int64_t>(rows / secs)) + " rows/s";
  line += "\033[K";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void Progress::Step(int64_t done, int64_t total, const std::string& text) {
  if (!tty_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  std::string line = "\r" + label_ + " ";
  if (total > 0) {
    int filled = std::clamp(static_cast<int>(30.0 * done / total), 0, 30);
    line +=
        "[" + std::string(filled, '#') + std::string(30 - filled, ' ') + "] ";
    line += StrCat(done, "/", total, " ");
  }
  line += text + "\033[K";
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void Progress::Done() {
  if (tty_) std::fputs("\r\033[K", stderr);
}

void PrintStructured(const Context& ctx, const google::protobuf::Message& m) {
  if (ctx.yaml) {
    std::cout << ToYaml(m);
  } else {
    std::cout << ToJson(m) << "\n";
  }
}

void PrintStructured(const Context& ctx, const NamedMessages& parts) {
  if (ctx.yaml) {
    std::cout << ToYaml(parts);
  } else {
    std::cout << ToJson(parts) << "\n";
  }
}

std::string FormatNumber(double v, int digits) {
  if (std::isnan(v)) return "-";  // Undefined (e.g. AUC of one class).
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

bool ParseTimeArg(const std::string& text, absl::Time* out) {
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, out, &err)) return true;
  for (const char* form : {"%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%E*S",
                           "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%E*S"}) {
    if (absl::ParseTime(form, text, absl::UTCTimeZone(), out, &err))
      return true;
  }
  return false;
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

std::string FormatMicros(int64_t micros) {
  if (micros == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(micros),
                          absl::UTCTimeZone());
}

std::string FormatCount(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

std::string FormatBytes(int64_t n) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, kUnits[u]);
  return buf;
}

}  // namespace mlpipe::cli
