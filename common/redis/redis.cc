#include "common/redis/redis.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>

#include "common/util/strings.h"

namespace mlpipe::redis {
namespace {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// A whole decimal number.
bool ParseInt(std::string_view s, int* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

Reply Convert(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::kString;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::kStatus;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::kError;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::kArray;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(Convert(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

// Appends `command` to the connection's output buffer (hiredis copies it).
void Append(redisContext* c, const Command& command) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  argv.reserve(command.size());
  lens.reserve(command.size());
  for (std::string_view a : command) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(),
                         lens.data());
}

// The next reply on `c`; false on an I/O error (`c->err` says which).
bool NextReply(redisContext* c, Reply* out) {
  void* raw = nullptr;
  if (redisGetReply(c, &raw) != REDIS_OK) return false;
  auto* r = static_cast<redisReply*>(raw);
  *out = Convert(r);
  freeReplyObject(r);
  return true;
}

}  // namespace

std::string Address::ToString() const {
  std::string hosts;
  for (const HostPort& h :
       sentinels.empty() ? std::vector<HostPort>{server} : sentinels) {
    bool v6 = h.host.find(':') != std::string::npos;
    StrAppend(&hosts, hosts.empty() ? "" : ",", v6 ? "[" : "", h.host,
              v6 ? "]" : "", ":", h.port);
  }
  return StrCat(sentinels.empty() ? "redis://" : "redis-sentinel://",
                user.empty() ? "" : user + "@", hosts,
                master.empty() ? "" : "/" + master,
                db != 0 ? StrCat("/", db) : "");
}

namespace {

// HOST[:PORT] or [IPv6][:PORT]; empty: ok.
std::string ParseHostPort(std::string_view s, int default_port, HostPort* out) {
  out->port = default_port;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return "unclosed '['";
    out->host = std::string(s.substr(1, close - 1));
    s = s.substr(close + 1);
    if (!s.empty() && s.front() != ':') return "junk after ']'";
  } else {
    size_t colon = s.rfind(':');
    out->host = std::string(s.substr(0, colon));
    s = colon == std::string_view::npos ? "" : s.substr(colon);
  }
  if (!s.empty()) {
    s.remove_prefix(1);
    if (!ParseInt(s, &out->port) || out->port <= 0 || out->port > 65535)
      return "the port must be 1-65535";
  }
  if (out->host.empty()) return "no host";
  return "";
}

}  // namespace

absl::StatusOr<Address> ParseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat(
        "'", url, "': ", why,
        " (expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
        "redis-sentinel://[[USER]:PASSWORD@]HOST[:PORT],.../MASTER[/DB])"));
  };
  constexpr std::string_view kPlain = "redis://",
                             kSentinel = "redis-sentinel://";
  const bool sentinel = url.substr(0, kSentinel.size()) == kSentinel;
  if (!sentinel && url.substr(0, kPlain.size()) != kPlain)
    return bad("not a redis URL");
  std::string_view rest =
      url.substr(sentinel ? kSentinel.size() : kPlain.size());
  Address a;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = userinfo.find(':');
    a.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos)
      a.password = std::string(userinfo.substr(colon + 1));
  }
  std::string_view path;
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (sentinel) {
    size_t slash = path.find('/');
    a.master = std::string(path.substr(0, slash));
    path = slash == std::string_view::npos ? "" : path.substr(slash + 1);
    if (a.master.empty()) return bad("no master name");
    while (true) {
      size_t comma = rest.find(',');
      HostPort h;
      if (std::string why = ParseHostPort(rest.substr(0, comma), 26379, &h);
          !why.empty())
        return bad(why);
      a.sentinels.push_back(std::move(h));
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
  } else if (std::string why = ParseHostPort(rest, 6379, &a.server);
             !why.empty()) {
    return bad(why);
  }
  if (!path.empty() && (!ParseInt(path, &a.db) || a.db < 0))
    return bad("the database must be a number");
  if (a.password.empty()) {
    if (const char* p = std::getenv("MLPIPE_REDIS_PASSWORD")) a.password = p;
  }
  return a;
}

Pool::Pool(Address address, PoolOptions options)
    : address_(std::move(address)), options_(options) {
  // hiredis writes with write(2), not send(MSG_NOSIGNAL): a server closing
  // the connection mid-write must not kill the process with SIGPIPE.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { std::signal(SIGPIPE, SIG_IGN); });
}

Pool::~Pool() {
  for (redisContext* c : idle_) redisFree(c);
}

absl::Status Pool::Unavailable(std::string_view what, redisContext* c) const {
  std::string why = c == nullptr ? "out of memory" : c->errstr;
  // hiredis reports a read or write past the socket's timeout as EAGAIN.
  if (c != nullptr && c->err == REDIS_ERR_IO &&
      (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINPROGRESS ||
       why.find("temporarily unavailable") != std::string::npos))
    why = StrCat("no answer within ", options_.timeout.count(), " ms");
  return absl::UnavailableError(
      StrCat("redis at ", address_.ToString(), ": ", what, ": ", why));
}

absl::StatusOr<redisContext*> Pool::Dial(const HostPort& at) const {
  redisContext* c = redisConnectWithTimeout(at.host.c_str(), at.port,
                                            ToTimeval(options_.timeout));
  if (c == nullptr || c->err != 0) {
    absl::Status s =
        Unavailable(StrCat("connect to ", at.host, ":", at.port), c);
    if (c != nullptr) redisFree(c);
    return s;
  }
  redisSetTimeout(c, ToTimeval(options_.timeout));
  redisEnableKeepAlive(c);
  return c;
}

absl::StatusOr<Reply> Pool::CallOn(redisContext* c,
                                   const Command& command) const {
  Append(c, command);
  Reply out;
  if (!NextReply(c, &out)) return Unavailable(command[0], c);
  if (out.type == Reply::kError) {
    return absl::FailedPreconditionError(StrCat(
        "redis at ", address_.ToString(), ": ", command[0], ": ", out.str));
  }
  return out;
}

absl::StatusOr<HostPort> Pool::AskSentinels() const {
  std::string errors;
  for (const HostPort& s : address_.sentinels) {
    auto c = Dial(s);
    if (!c.ok()) {
      StrAppend(&errors, "; ", c.status().message());
      continue;
    }
    auto r =
        CallOn(*c, {"SENTINEL", "get-master-addr-by-name", address_.master});
    redisFree(*c);
    HostPort master;
    if (r.ok() && r->type == Reply::kArray && r->elements.size() == 2 &&
        ParseInt(r->elements[1].str, &master.port) &&
        !r->elements[0].str.empty()) {
      master.host = r->elements[0].str;
      return master;
    }
    StrAppend(&errors, "; ", s.host, ":", s.port, ": ",
              r.ok() ? StrCat("knows no master '", address_.master, "'")
                     : std::string(r.status().message()));
  }
  return absl::UnavailableError(StrCat("redis at ", address_.ToString(),
                                       ": no sentinel told the master",
                                       errors));
}

absl::StatusOr<redisContext*> Pool::Connect() {
  HostPort server = address_.server;
  if (!address_.sentinels.empty()) {
    auto master = AskSentinels();
    if (!master.ok()) return master.status();
    server = *std::move(master);
  }
  auto c = Dial(server);
  if (!c.ok()) return c.status();
  std::string db = std::to_string(address_.db);
  std::vector<Command> setup;
  if (!address_.password.empty()) {
    setup.push_back(address_.user.empty()
                        ? Command{"AUTH", address_.password}
                        : Command{"AUTH", address_.user, address_.password});
  }
  if (address_.db != 0) setup.push_back({"SELECT", db});
  // A sentinel's answer may lag a failover: only a master will do.
  if (!address_.sentinels.empty()) setup.push_back({"ROLE"});
  for (const Command& cmd : setup) {
    auto r = CallOn(*c, cmd);
    absl::Status s = r.status();
    if (s.ok() && cmd[0] == "ROLE" &&
        (r->elements.empty() || r->elements[0].str != "master")) {
      s = absl::UnavailableError(
          StrCat("redis at ", address_.ToString(), ": the sentinels' master ",
                 server.host, ":", server.port,
                 " is not a master (a failover under way?)"));
    }
    if (!s.ok()) {
      redisFree(*c);
      return s;
    }
  }
  return c;
}

absl::StatusOr<redisContext*> Pool::Acquire(bool* reused) {
  *reused = false;
  std::unique_lock lock(mu_);
  auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  while (idle_.empty() && open_ >= options_.max_connections) {
    if (freed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        idle_.empty() && open_ >= options_.max_connections) {
      return absl::UnavailableError(StrCat(
          "redis at ", address_.ToString(), ": all ", options_.max_connections,
          " connections busy for ", options_.timeout.count(), " ms"));
    }
  }
  if (!idle_.empty()) {
    redisContext* c = idle_.back();
    idle_.pop_back();
    *reused = true;
    return c;
  }
  if (std::chrono::steady_clock::now() < down_until_) return down_;
  ++open_;
  lock.unlock();
  auto c = Connect();
  if (!c.ok()) {
    lock.lock();
    --open_;
    down_until_ = std::chrono::steady_clock::now() + options_.retry_after;
    down_ = absl::Status(c.status().code(),
                         StrCat(c.status().message(), " (retrying in ",
                                options_.retry_after.count(), " ms)"));
    freed_.notify_one();
  }
  return c;
}

void Pool::Release(redisContext* c, bool healthy) {
  std::lock_guard lock(mu_);
  if (healthy) {
    idle_.push_back(c);
  } else {
    redisFree(c);
    --open_;
  }
  freed_.notify_one();
}

void Pool::DropIdle() {
  std::lock_guard lock(mu_);
  for (redisContext* c : idle_) redisFree(c);
  open_ -= static_cast<int>(idle_.size());
  idle_.clear();
  freed_.notify_all();
}

absl::StatusOr<std::vector<Reply>> Pool::Run(
    const std::vector<Command>& commands) {
  bool stale = false;
  auto r = RunOnce(commands, &stale);
  if (!stale) return r;
  // The server closed its connections (restarted, or timed them out): the
  // other pooled ones are as dead.
  DropIdle();
  return RunOnce(commands, &stale);
}

absl::StatusOr<std::vector<Reply>> Pool::RunOnce(
    const std::vector<Command>& commands, bool* stale) {
  bool reused = false;
  auto c = Acquire(&reused);
  if (!c.ok()) return c.status();
  for (const Command& cmd : commands) Append(*c, cmd);
  std::vector<Reply> out;
  out.reserve(commands.size());
  std::string error;
  bool readonly = false;
  for (const Command& cmd : commands) {
    Reply r;
    if (!NextReply(*c, &r)) {
      const bool timed_out = (*c)->err == REDIS_ERR_IO &&
                             (errno == EAGAIN || errno == EWOULDBLOCK);
      *stale = reused && !timed_out;
      absl::Status s = Unavailable(cmd[0], *c);
      Release(*c, false);
      return s;
    }
    if (r.type == Reply::kError && error.empty()) {
      error = StrCat(cmd[0], ": ", r.str);
      // A master demoted by a failover: the new one is elsewhere.
      readonly = r.str.rfind("READONLY", 0) == 0;
    }
    out.push_back(std::move(r));
  }
  Release(*c, !readonly);
  if (readonly) {
    *stale = true;
    return absl::UnavailableError(
        StrCat("redis at ", address_.ToString(), ": ", error));
  }
  if (!error.empty()) {
    return absl::FailedPreconditionError(
        StrCat("redis at ", address_.ToString(), ": ", error));
  }
  return out;
}

absl::StatusOr<Reply> Pool::Call(const Command& command) {
  auto r = Run({command});
  if (!r.ok()) return r.status();
  return std::move(r->front());
}

}  // namespace mlpipe::redis
