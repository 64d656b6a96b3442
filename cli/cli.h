// Pieces every `mlpipe` command uses: parsed arguments, the server channel,
// output (tables, JSON, progress) and exit codes.
#ifndef MLPIPE_CLI_CLI_H_
#define MLPIPE_CLI_CLI_H_

#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/status.h"

namespace google::protobuf {
class Message;
class Timestamp;
}  // namespace google::protobuf

namespace mlpipe::cli {

// Exit codes, for scripts: one table for every command (`mlpipe --help`
// prints it). A failure with a gRPC status takes the status's code (Fail),
// whether the call failed or the operation it started did.
enum ExitCode : int {
  kOk = 0,
  kError = 1,     // Any other failure.
  kUsage = 2,     // Bad command line (flags, arguments).
  kNotFound = 3,  // NOT_FOUND: a named dataset, model, run, ... is not there.
  // Rejected input: a file or value the command read (FILE:LINE named), or
  // INVALID_ARGUMENT, FAILED_PRECONDITION, ALREADY_EXISTS, OUT_OF_RANGE.
  kRejected = 4,
  kUnavailable = 5,  // Server unreachable, or DEADLINE_EXCEEDED.
  // A negative verdict: the watched run or training job ended FAILED or
  // CANCELLED, the evaluation did not bless the model.
  kNegative = 6,
  kNotAllowed = 7,  // UNAUTHENTICATED or PERMISSION_DENIED.
  kBusy = 8,        // RESOURCE_EXHAUSTED: over a limit; retry with backoff.
};

// Command-line arguments: positionals and --flags (--k v, --k=v, --switch).
// A flag's value that is not what the flag takes; main reports it (exit 2).
class FlagError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // `switches` are flags that take no value.
  static Args Parse(int argc, char** argv, int first,
                    const std::vector<std::string>& switches);
  const std::vector<std::string>& positional() const { return positional_; }
  bool Has(const std::string& flag) const { return flags_.contains(flag); }
  std::string Get(const std::string& flag, const std::string& def = "") const;
  // A flag's value as a whole number / a finite number (`def` when absent).
  // A value that is not one, wholly, throws FlagError naming the flag.
  int64_t Int(const std::string& flag, int64_t def = 0) const;
  double Number(const std::string& flag, double def = 0) const;
  // --limit N: a whole number >= 1 (at most 1,000,000), 0 when absent;
  // throws FlagError otherwise.
  int32_t Limit() const;
  // Flags not in `known` (for "unknown flag" errors).
  std::vector<std::string> Unknown(const std::vector<std::string>& known) const;
  // What names the first argument that is not valid UTF-8 ("--flag" or
  // "argument N"); empty when all are. Requests carry them as text.
  std::string NotUtf8() const;
  // The first flag that takes a value but was given none ("--keys" in
  // "--keys --as-of T" or at the end), "" when every one has its value.
  const std::string& MissingValue() const { return missing_value_; }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> flags_;
  std::string missing_value_;
};

// A call's context with a deadline: every CLI call has one, so a server that
// hangs does not hang the CLI (streams that follow long work set their own).
class UnaryCall : public grpc::ClientContext {
 public:
  explicit UnaryCall(std::chrono::seconds timeout = std::chrono::seconds(300)) {
    set_deadline(std::chrono::system_clock::now() + timeout);
  }
};

struct Context {
  std::string server;  // --server, $MLPIPE_SERVER, localhost:7000.
  // --output json or yaml (machine-readable: `json` is set for both).
  bool json = false;
  bool yaml = false;
  std::shared_ptr<grpc::Channel> channel;
  // The ingestion service, when it is not at `server` (distributed mode):
  // --ingest-server, $MLPIPE_INGEST_SERVER, else `channel`.
  std::shared_ptr<grpc::Channel> ingest_channel;
  // Who changes are recorded as made by, when this CLI says: "user:$USER"
  // without credentials (a server without a policy records what it is
  // told); "" with a token or client certificate (the server records the
  // principal they prove, and refuses any other name).
  std::string author;
};

// What a call reports when the server's reply is not a message this CLI
// can parse (another version's, or text that is not UTF-8).
inline constexpr char kUnreadableReply[] =
    "the server's reply could not be read: not a message of this mlpipe "
    "version (a newer or older server?), or text that is not UTF-8";

// Prints "error: <message>" on stderr and returns the exit code for `s`.
int Fail(const grpc::Status& s, const Context& ctx);
int UsageError(const std::string& message);
// A usage error for the first flag that is neither in `known` nor global
// (--server, --output, --ingest-server); kOk otherwise.
int CheckFlags(const Args& args, std::vector<std::string> known);

// A fixed-width text table on stdout.
class TablePrinter {
 public:
  explicit TablePrinter(std::vector<std::string> header)
      : header_(std::move(header)) {}
  void Row(std::vector<std::string> cells) {
    rows_.push_back(std::move(cells));
  }
  // The header and rows, padded into aligned lines (no line ends).
  std::vector<std::string> Lines() const;
  void Print() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// A progress line on stderr, redrawn at most 10 times a second, only when
// stderr is a terminal.
class Progress {
 public:
  // `total` bytes (0 when unknown).
  Progress(std::string label, int64_t total);
  void Update(int64_t done, int64_t rows);
  // A bar of `done` of `total` units, then `text` (e.g. "gbdt round 20/200").
  void Step(int64_t done, int64_t total, const std::string& text);
  void Done();
  // Whether anything is shown (stderr is a terminal): what only the display
  // needs is not worth computing otherwise.
  bool shown() const { return tty_; }

 private:
  std::string label_;
  int64_t total_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_;
};

// Prints `m` as --output asks, JSON or YAML (cli/structured_output.h).
void PrintStructured(const Context& ctx, const google::protobuf::Message& m);
// Several messages as one object, each under its name.
void PrintStructured(
    const Context& ctx,
    const std::vector<std::pair<std::string, const google::protobuf::Message*>>&
        parts);

// Prints `m` as JSON or YAML under --output json|yaml, else calls `table`
// to print it.
template <typename F>
void Print(const Context& ctx, const google::protobuf::Message& m, F table) {
  if (ctx.json) {
    PrintStructured(ctx, m);
  } else {
    table();
  }
}
// A time as users write one: an RFC 3339 time (2024-03-01T12:30:00Z), or a
// date (2024-03-01: its midnight) or date and time (2024-03-01 12:30[:00],
// or with a T) in UTC. False for anything else.
bool ParseTimeArg(const std::string& text, absl::Time* out);
// What ParseTimeArg takes, for usage errors.
inline constexpr char kTimeArgForms[] =
    "a date (2024-03-01), a UTC time (2024-03-01 12:30) or an RFC 3339 time "
    "(2024-03-01T12:30:00+02:00)";
std::string FormatTime(const google::protobuf::Timestamp& t);
// A time in microseconds since the epoch, as FormatTime; "-" for 0.
std::string FormatMicros(int64_t micros);
std::string FormatCount(int64_t n);  // 1234567 -> "1,234,567"
// `digits` significant digits, printf %g: 0.123456 -> "0.1235" (4).
std::string FormatNumber(double v, int digits = 4);
std::string FormatBytes(int64_t n);  // 1536 -> "1.5 KiB"

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_CLI_H_
