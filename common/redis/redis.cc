#include "common/redis/redis.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cerrno>
#include <charconv>
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

}  // namespace

std::string Address::ToString() const {
  return StrCat("redis://", user.empty() ? "" : user + "@", host, ":", port,
                db != 0 ? StrCat("/", db) : "");
}

absl::StatusOr<Address> ParseUrl(std::string_view url) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("'", url, "': ", why,
               " (expected redis://[[USER]:PASSWORD@]HOST[:PORT][/DB])"));
  };
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme) return bad("not a redis URL");
  std::string_view rest = url.substr(kScheme.size());
  Address a;
  if (size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = userinfo.find(':');
    a.user = std::string(userinfo.substr(0, colon));
    if (colon != std::string_view::npos)
      a.password = std::string(userinfo.substr(colon + 1));
  }
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && (!ParseInt(db, &a.db) || a.db < 0))
      return bad("the database must be a number");
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed '['");
    a.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return bad("junk after ']'");
  } else {
    size_t colon = rest.rfind(':');
    a.host = std::string(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? "" : rest.substr(colon);
  }
  if (!rest.empty()) {
    rest.remove_prefix(1);
    if (!ParseInt(rest, &a.port) || a.port <= 0 || a.port > 65535)
      return bad("the port must be 1-65535");
  }
  if (a.host.empty()) return bad("no host");
  if (a.password.empty()) {
    if (const char* p = std::getenv("MLPIPE_REDIS_PASSWORD")) a.password = p;
  }
  return a;
}

Pool::Pool(Address address, PoolOptions options)
    : address_(std::move(address)), options_(options) {}

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

absl::StatusOr<redisContext*> Pool::Connect() {
  redisContext* c = redisConnectWithTimeout(
      address_.host.c_str(), address_.port, ToTimeval(options_.timeout));
  if (c == nullptr || c->err != 0) {
    absl::Status s = Unavailable("connect", c);
    if (c != nullptr) redisFree(c);
    return s;
  }
  redisSetTimeout(c, ToTimeval(options_.timeout));
  redisEnableKeepAlive(c);
  std::string db = std::to_string(address_.db);
  std::vector<Command> setup;
  if (!address_.password.empty()) {
    setup.push_back(address_.user.empty()
                        ? Command{"AUTH", address_.password}
                        : Command{"AUTH", address_.user, address_.password});
  }
  if (address_.db != 0) setup.push_back({"SELECT", db});
  for (const Command& cmd : setup) {
    Append(c, cmd);
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) {
      absl::Status s = Unavailable(cmd[0], c);
      redisFree(c);
      return s;
    }
    auto* r = static_cast<redisReply*>(raw);
    std::string error = r->type == REDIS_REPLY_ERROR
                            ? std::string(r->str, r->len)
                            : std::string();
    freeReplyObject(r);
    if (!error.empty()) {
      redisFree(c);
      return absl::FailedPreconditionError(
          StrCat("redis at ", address_.ToString(), ": ", cmd[0], ": ", error));
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
  if (std::chrono::steady_clock::now() < down_until_)
    return absl::UnavailableError(down_reason_);
  ++open_;
  lock.unlock();
  auto c = Connect();
  if (!c.ok()) {
    lock.lock();
    --open_;
    down_until_ = std::chrono::steady_clock::now() + options_.retry_after;
    down_reason_ = StrCat(c.status().message(), " (retrying in ",
                          options_.retry_after.count(), " ms)");
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
  for (const Command& cmd : commands) {
    void* raw = nullptr;
    if (redisGetReply(*c, &raw) != REDIS_OK) {
      const bool timed_out = (*c)->err == REDIS_ERR_IO &&
                             (errno == EAGAIN || errno == EWOULDBLOCK);
      *stale = reused && !timed_out;
      absl::Status s = Unavailable(cmd[0], *c);
      Release(*c, false);
      return s;
    }
    auto* r = static_cast<redisReply*>(raw);
    if (r->type == REDIS_REPLY_ERROR && error.empty())
      error = StrCat(cmd[0], ": ", std::string_view(r->str, r->len));
    out.push_back(Convert(r));
    freeReplyObject(r);
  }
  Release(*c, true);
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
