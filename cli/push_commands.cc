#include "cli/push_commands.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iostream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "clients/push_client.h"
#include "common/rpc/status.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"

namespace mlpipe::cli {
namespace {

// Lines of JSON from a file or stdin. From a pipe, a message goes out when
// the input pauses (20 ms), so rows piped one at a time are pushed at once.
class LineSource {
 public:
  explicit LineSource(const std::string& path)
      : fd_(path == "-" ? 0 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~LineSource() {
    if (fd_ > 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int64_t bytes_read() const { return bytes_; }

  // The next line (without its end) into *line: 1; 0 at the end of input;
  // -1 when no whole line came within `wait_ms` (-1: wait for ever).
  int Next(std::string* line, int wait_ms) {
    while (true) {
      size_t nl = buf_.find('\n', at_);
      if (nl != std::string::npos) {
        line->assign(buf_, at_, nl - at_);
        at_ = nl + 1;
        return 1;
      }
      if (eof_) {
        if (at_ >= buf_.size()) return 0;
        line->assign(buf_, at_, std::string::npos);
        at_ = buf_.size();
        return 1;
      }
      buf_.erase(0, at_);
      at_ = 0;
      if (wait_ms >= 0) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, wait_ms) == 0) return -1;
      }
      char chunk[1 << 16];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) {
        eof_ = true;
      } else {
        buf_.append(chunk, static_cast<size_t>(n));
        bytes_ += n;
      }
    }
  }

 private:
  int fd_;
  std::string buf_;
  size_t at_ = 0;
  bool eof_ = false;
  int64_t bytes_ = 0;
};

std::string DefaultProducer() {
  const char* user = std::getenv("USER");
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  return absl::StrCat("mlpipe-push.", user != nullptr ? user : "user", "@",
                      host, ".", getpid(), ".",
                      std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
}

struct Message {
  int64_t first_line = 0, last_line = 0;
};

// The server's error for a message ("sequence S: ... line L ...", L counted
// in the message) with the input's name and its own line numbers.
std::string WhereInInput(const absl::Status& s, const std::string& path,
                         const std::deque<Message>& sent) {
  const std::string msg(s.message());
  const std::string name = path == "-" ? "<stdin>" : path;
  for (const Message& m : sent) {
    const std::string seq = absl::StrCat("sequence ", m.last_line, ": ");
    if (msg.rfind(seq, 0) != 0) continue;
    const std::string rest = msg.substr(seq.size());
    std::smatch line;
    if (std::regex_search(rest, line, std::regex("line ([0-9]+)"))) {
      return absl::StrCat(name, ": ", line.prefix().str(), "line ",
                          m.first_line + std::stoll(line[1].str()) - 1,
                          line.suffix().str());
    }
    if (m.first_line == m.last_line)
      return absl::StrCat(name, ":", m.first_line, ": ", rest);
    return absl::StrCat(name, ": lines ", m.first_line, "-", m.last_line, ": ",
                        rest);
  }
  return msg;
}

}  // namespace

int RunPush(const Args& args, Context& ctx) {
  if (int rc = CheckFlags(args, {"dataset", "file", "format", "producer",
                                 "rows-per-message", "flush"});
      rc != kOk)
    return rc;
  const std::string dataset = args.Get("dataset");
  if (dataset.empty()) return UsageError("push: --dataset NAME is required");
  const std::string path = args.Get("file", "-");
  if (args.Has("format") && args.Get("format") != "jsonl")
    return UsageError("push: --format must be jsonl (one JSON object a line)");
  const int64_t per_message = args.Int("rows-per-message", 1000);
  if (per_message < 1 || per_message > 65536)
    return UsageError("push: --rows-per-message must be 1 to 65536");
  const bool resumable = args.Has("producer");
  const std::string producer =
      resumable ? args.Get("producer") : DefaultProducer();
  LineSource in(path);
  if (!in.ok()) {
    std::cerr << "error: cannot open " << path << ": " << std::strerror(errno)
              << "\n";
    return kRejected;
  }
  const auto started = std::chrono::steady_clock::now();
  auto client = ingest::PushClient::Open(
      ctx.ingest_channel,
      {.dataset = dataset, .producer = producer, .format = v1::JSONL});
  if (!client.ok()) return Fail(rpc::ToGrpcStatus(client.status()), ctx);
  const int64_t resumed = (*client)->stats().resumed_after;
  if (resumed > 0 && !ctx.json) {
    std::cerr << "producer " << producer << " stored lines up to " << resumed
              << " before: resuming after them\n";
  }
  Progress progress("push", 0);
  std::deque<Message> sent;  // Recent messages, to name lines in errors.
  std::string batch, line;
  int64_t line_no = 0, first = 0, in_batch = 0, rows = 0, messages = 0;
  auto send = [&]() -> absl::Status {
    if (in_batch == 0) return absl::OkStatus();
    sent.push_back({first, line_no});
    if (sent.size() > 4096) sent.pop_front();
    absl::Status s = (*client)->SendJsonLines(line_no, std::move(batch));
    batch.clear();
    rows += in_batch;
    ++messages;
    in_batch = 0;
    progress.Update(in.bytes_read(), rows);
    return s;
  };
  absl::Status s;
  while (s.ok()) {
    const int got = in.Next(&line, in_batch > 0 ? 20 : -1);
    if (got == 0) break;
    if (got < 0) {  // The input paused: send what came.
      s = send();
      continue;
    }
    ++line_no;
    if (line_no <= resumed) continue;  // Stored before.
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (in_batch == 0) first = line_no;
    absl::StrAppend(&batch, line, "\n");
    if (++in_batch >= per_message) s = send();
  }
  if (s.ok()) s = send();
  if (s.ok()) s = (*client)->Close();
  progress.Done();
  if (!s.ok()) {
    return Fail(
        rpc::ToGrpcStatus(absl::Status(s.code(), WhereInInput(s, path, sent))),
        ctx);
  }
  const auto stats = (*client)->stats();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count();
  v1::FlushPushesResponse flushed;
  if (args.Has("flush")) {
    auto stub = v1::Ingestion::NewStub(ctx.ingest_channel);
    UnaryCall call;
    v1::FlushPushesRequest req;
    req.set_dataset(dataset);
    if (auto st = stub->FlushPushes(&call, req, &flushed); !st.ok())
      return Fail(st, ctx);
  }
  google::protobuf::Struct out;
  auto& f = *out.mutable_fields();
  f["dataset"].set_string_value(dataset);
  f["producer"].set_string_value(producer);
  f["lines"].set_number_value(static_cast<double>(line_no));
  f["rows_sent"].set_number_value(static_cast<double>(rows));
  f["messages"].set_number_value(static_cast<double>(messages));
  f["acked_through_line"].set_number_value(static_cast<double>(stats.acked));
  f["resumed_after_line"].set_number_value(static_cast<double>(resumed));
  f["duplicate_messages"].set_number_value(
      static_cast<double>(stats.duplicates));
  f["reconnects"].set_number_value(static_cast<double>(stats.reconnects));
  f["seconds"].set_number_value(seconds);
  if (args.Has("flush")) {
    f["version"].set_number_value(static_cast<double>(
        flushed.dataset().versions().empty()
            ? 0
            : flushed.dataset().versions().rbegin()->version()));
    f["rows_added"].set_number_value(static_cast<double>(flushed.rows()));
  }
  Print(ctx, out, [&] {
    std::cout << "pushed " << FormatCount(rows) << " rows in "
              << FormatCount(messages) << " messages to " << dataset << " ("
              << FormatCount(seconds > 0 ? static_cast<int64_t>(rows / seconds)
                                         : 0)
              << " rows/s), durable through line " << stats.acked << "\n";
    if (stats.duplicates > 0 || stats.reconnects > 0) {
      std::cout << stats.duplicates << " messages were stored before, "
                << stats.reconnects << " reconnects\n";
    }
    if (args.Has("flush")) {
      std::cout << "flushed: " << FormatCount(flushed.rows())
                << " rows in a new version; " << dataset << " is at version "
                << f["version"].number_value() << " with "
                << FormatCount(flushed.dataset().row_count()) << " rows\n";
    } else {
      std::cout << "the rows become a dataset version at the next compaction "
                   "(every minute, or: mlpipe push --flush)\n";
    }
  });
  return kOk;
}

}  // namespace mlpipe::cli
