// A Redis client over hiredis (Debian's libhiredis): a bounded pool of
// blocking connections, every call's commands pipelined in one round trip,
// each connect, read and write bounded by a timeout. gRPC-free, thread-safe.
//
// Errors: Redis unreachable, a broken connection or a deadline passed are
// UNAVAILABLE naming the server; after a failed connect the pool answers
// UNAVAILABLE at once for `retry_after` (no thread waits on a dead server
// request after request). An error reply is FAILED_PRECONDITION with Redis's
// own message.
#ifndef MLPIPE_COMMON_REDIS_REDIS_H_
#define MLPIPE_COMMON_REDIS_REDIS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

struct redisContext;

namespace mlpipe::redis {

struct HostPort {
  std::string host;
  int port = 6379;
};

// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB], or, with Redis Sentinel,
// redis-sentinel://[[USER]:PASSWORD@]S1[:PORT],S2[:PORT],.../MASTER[/DB]:
// each connect asks the sentinels (in order, port 26379 by default) where
// master MASTER is now, and checks that it says it is the master. The user
// and password are the data server's (sentinels are asked without). Without
// a password in the URL, $MLPIPE_REDIS_PASSWORD (if set) is used, so a
// password need not be on a command line.
struct Address {
  HostPort server;                  // Without sentinels.
  std::vector<HostPort> sentinels;  // With: ...
  std::string master;               // ... and the name of the master.
  int db = 0;
  std::string user;  // Empty: the default user.
  std::string password;
  std::string ToString() const;  // Without the password.
};
absl::StatusOr<Address> ParseUrl(std::string_view url);

struct PoolOptions {
  // Connect, and each read and write on a connection, at most; also the
  // wait for a free connection.
  std::chrono::milliseconds timeout{100};
  int max_connections = 16;  // Open at once; callers beyond wait (deadline).
  std::chrono::milliseconds retry_after{1000};
};

// One reply, copied out of hiredis's.
struct Reply {
  // kError: an error reply (Run and Call fail the call on one; it may
  // also be an element of an array).
  enum Type { kNil, kString, kInteger, kArray, kStatus, kError };
  Type type = kNil;
  std::string str;  // kString, kStatus, kError.
  int64_t integer = 0;
  std::vector<Reply> elements;  // kArray.
};

// A command's arguments; they must outlive the call.
using Command = std::vector<std::string_view>;

class Pool {
 public:
  Pool(Address address, PoolOptions options);
  // REQUIRES: no call in flight.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Sends every command on one connection, pipelined, and returns their
  // replies in order. Any error reply fails the whole call. The commands
  // must be idempotent: when a pooled connection turns out broken (the
  // server restarted) or its server is no longer the master (READONLY after
  // a Sentinel failover), the call is sent once more on a new connection.
  absl::StatusOr<std::vector<Reply>> Run(const std::vector<Command>& commands);
  // Run with one command.
  absl::StatusOr<Reply> Call(const Command& command);

  const Address& address() const { return address_; }

 private:
  // `*reused`: the connection was pooled (may be stale).
  absl::StatusOr<redisContext*> Acquire(bool* reused);
  // One attempt of Run; `*stale` when a pooled connection failed otherwise
  // than by the timeout.
  absl::StatusOr<std::vector<Reply>> RunOnce(
      const std::vector<Command>& commands, bool* stale);
  void Release(redisContext* c, bool healthy);
  void DropIdle();
  absl::StatusOr<redisContext*> Connect();
  // A connection to `at`, its timeouts set (no AUTH, no SELECT).
  absl::StatusOr<redisContext*> Dial(const HostPort& at) const;
  // One command on `c`, its error reply as FAILED_PRECONDITION.
  absl::StatusOr<Reply> CallOn(redisContext* c, const Command& command) const;
  // Where the master is now, from the sentinels.
  absl::StatusOr<HostPort> AskSentinels() const;
  absl::Status Unavailable(std::string_view what, redisContext* c) const;

  const Address address_;
  const PoolOptions options_;
  std::mutex mu_;
  std::condition_variable freed_;
  std::vector<redisContext*> idle_;  // GUARDED_BY(mu_)
  int open_ = 0;                     // GUARDED_BY(mu_)
  // After a failed connect: refuse at once with its status until then.
  std::chrono::steady_clock::time_point down_until_{};  // GUARDED_BY(mu_)
  absl::Status down_;                                   // GUARDED_BY(mu_)
};

}  // namespace mlpipe::redis

#endif  // MLPIPE_COMMON_REDIS_REDIS_H_
