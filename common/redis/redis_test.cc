// The Redis client and the online layout against a real redis-server.
#include "common/redis/redis.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "common/redis/online_redis.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::redis {
namespace {

using ::testing::HasSubstr;

TEST(RedisUrlTest, ParsesEveryPart) {
  unsetenv("MLPIPE_REDIS_PASSWORD");
  auto a = ParseUrl("redis://prep:s3cret@redis-0.redis:6380/2");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->user, "prep");
  EXPECT_EQ(a->password, "s3cret");
  EXPECT_EQ(a->server.host, "redis-0.redis");
  EXPECT_EQ(a->server.port, 6380);
  EXPECT_EQ(a->db, 2);
  EXPECT_EQ(a->ToString(), "redis://prep@redis-0.redis:6380/2");
  auto b = ParseUrl("redis://localhost");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->server.port, 6379);
  EXPECT_EQ(b->db, 0);
  auto c = ParseUrl("redis://:pw@[::1]:7000");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server.host, "::1");
  EXPECT_EQ(c->server.port, 7000);
  EXPECT_EQ(c->password, "pw");
  EXPECT_TRUE(c->user.empty());
  auto s = ParseUrl("redis-sentinel://score@s0:26380,[::1],s2/online/1");
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->sentinels.size(), 3u);
  EXPECT_EQ(s->sentinels[0].host, "s0");
  EXPECT_EQ(s->sentinels[0].port, 26380);
  EXPECT_EQ(s->sentinels[1].host, "::1");
  EXPECT_EQ(s->sentinels[2].port, 26379);
  EXPECT_EQ(s->master, "online");
  EXPECT_EQ(s->db, 1);
  EXPECT_EQ(s->user, "score");
  EXPECT_EQ(s->ToString(),
            "redis-sentinel://score@s0:26380,[::1]:26379,s2:26379/online/1");
  setenv("MLPIPE_REDIS_PASSWORD", "fromenv", 1);
  EXPECT_EQ(ParseUrl("redis://h:1")->password, "fromenv");
  unsetenv("MLPIPE_REDIS_PASSWORD");
  for (const char* bad :
       {"http://h:1", "redis://", "redis://h:0", "redis://h:99999",
        "redis://h:1/x", "redis://h:p", "redis://[::1"}) {
    auto r = ParseUrl(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("expected redis://")) << bad;
  }
}

PoolOptions Fast() {
  PoolOptions o;
  o.timeout = std::chrono::milliseconds(200);
  o.retry_after = std::chrono::milliseconds(300);
  o.max_connections = 4;
  return o;
}

TEST(RedisPoolTest, PipelinesCommandsAndReportsErrorReplies) {
  testing::RedisServer server;
  Pool pool(*ParseUrl(server.url() + "/3"), Fast());
  std::string big(100000, 'x');
  big[5] = '\0';  // Binary-safe.
  auto r = pool.Run({{"SET", "a", big},
                     {"GET", "a"},
                     {"GET", "none"},
                     {"INCRBY", "n", "5"},
                     {"MGET", "a", "none"}});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[0].type, Reply::kStatus);
  EXPECT_EQ((*r)[1].str, big);
  EXPECT_EQ((*r)[2].type, Reply::kNil);
  EXPECT_EQ((*r)[3].integer, 5);
  ASSERT_EQ((*r)[4].elements.size(), 2u);
  EXPECT_EQ((*r)[4].elements[1].type, Reply::kNil);
  // The URL's database was selected: database 0 has no "a".
  Pool db0(*ParseUrl(server.url()), Fast());
  EXPECT_EQ(db0.Call({"GET", "a"})->type, Reply::kNil);
  // An error reply fails the call but leaves the connection usable.
  auto bad = pool.Run({{"INCR", "a"}, {"GET", "n"}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bad.status().message(), HasSubstr("INCR"));
  EXPECT_EQ(pool.Call({"GET", "n"})->str, "5");
}

TEST(RedisPoolTest, DownFrozenAndBackAgain) {
  testing::RedisServer server;
  Pool pool(*ParseUrl(server.url()), Fast());
  ASSERT_TRUE(pool.Call({"SET", "k", "v"}).ok());
  server.Kill();
  auto down = pool.Call({"GET", "k"});
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(down.status().message(), HasSubstr(server.url()));
  // While it is down the pool refuses at once, without connecting.
  auto t0 = std::chrono::steady_clock::now();
  auto again = pool.Call({"GET", "k"});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0,
            std::chrono::milliseconds(50));
  server.Restart();
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  auto back = pool.Call({"GET", "k"});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->type, Reply::kNil);  // Restarted empty.
  // Pooled connections to the old server are replaced without an error.
  ASSERT_TRUE(pool.Run({{"SET", "k", "1"}}).ok());
  server.Restart();
  auto fresh = pool.Call({"GET", "k"});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(fresh->type, Reply::kNil);
  // A server that accepts but never answers: the timeout, then UNAVAILABLE.
  server.Freeze();
  t0 = std::chrono::steady_clock::now();
  auto frozen = pool.Call({"GET", "k"});
  auto took = std::chrono::steady_clock::now() - t0;
  server.Thaw();
  EXPECT_EQ(frozen.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(frozen.status().message(), HasSubstr("no answer within 200 ms"));
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  EXPECT_TRUE(pool.Call({"PING"}).ok());
}

TEST(RedisPoolTest, WrongPasswordIsAClearError) {
  testing::RedisServer server;
  Pool admin(*ParseUrl(server.url()), Fast());
  ASSERT_TRUE(admin.Call({"CONFIG", "SET", "requirepass", "right"}).ok());
  Pool wrong(
      *ParseUrl("redis://:nope@127.0.0.1:" + std::to_string(server.port())),
      Fast());
  auto r = wrong.Call({"PING"});
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("AUTH"));
  Pool right(
      *ParseUrl("redis://:right@127.0.0.1:" + std::to_string(server.port())),
      Fast());
  EXPECT_TRUE(right.Call({"PING"}).ok());
}

// Redis Sentinel: the pool finds the master through the sentinel, and after
// the master dies and the sentinel promotes its replica, calls go to the new
// master (a few fail meanwhile, UNAVAILABLE).
TEST(RedisPoolTest, FollowsASentinelFailover) {
  // No 5-s delay before the replica's first sync.
  testing::RedisServer master({"--repl-diskless-sync-delay", "0"});
  testing::RedisServer replica(
      {"--replicaof", "127.0.0.1", std::to_string(master.port())});
  testing::RedisServer sentinel(
      {"--sentinel"}, "sentinel monitor online 127.0.0.1 " +
                          std::to_string(master.port()) +
                          " 1\nsentinel down-after-milliseconds online 300\n"
                          "sentinel failover-timeout online 2000\n");
  Pool pool(*ParseUrl("redis-sentinel://127.0.0.1:" +
                      std::to_string(sentinel.port()) + "/online"),
            Fast());
  ASSERT_TRUE(pool.Call({"SET", "k", "before"}).ok());
  Pool to_replica(*ParseUrl(replica.url()), Fast());
  Pool to_sentinel(*ParseUrl(sentinel.url()), Fast());
  // Replicated, and the sentinel knows the replica (from the master's INFO,
  // every 10 s at first), before the master goes.
  auto ready = [&] {
    auto got = to_replica.Call({"GET", "k"});
    auto known = to_sentinel.Call({"SENTINEL", "REPLICAS", "online"});
    return got.ok() && got->str == "before" && known.ok() &&
           !known->elements.empty();
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!ready() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  ASSERT_TRUE(ready());
  master.Kill();
  absl::Status last;
  bool moved = false;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!moved && std::chrono::steady_clock::now() < deadline) {
    auto r = pool.Call({"SET", "k", "after"});
    last = r.status();
    moved = r.ok();
    if (!moved) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable)
          << r.status();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  ASSERT_TRUE(moved) << last;
  EXPECT_EQ(to_replica.Call({"ROLE"})->elements[0].str, "master");
  EXPECT_EQ(to_replica.Call({"GET", "k"})->str, "after");
}

// A URL whose sentinels know no such master: a clear UNAVAILABLE.
TEST(RedisPoolTest, UnknownSentinelMasterIsNamed) {
  testing::RedisServer master;
  testing::RedisServer sentinel({"--sentinel"},
                                "sentinel monitor online 127.0.0.1 " +
                                    std::to_string(master.port()) + " 1\n");
  Pool pool(*ParseUrl("redis-sentinel://127.0.0.1:" +
                      std::to_string(sentinel.port()) + "/other"),
            Fast());
  auto r = pool.Call({"PING"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr("knows no master 'other'"));
}

v1::OnlineValue Value(int64_t t, std::vector<double> xs) {
  v1::OnlineValue v;
  v.set_event_micros(t);
  v.set_version(1);
  v.mutable_values()->Assign(xs.begin(), xs.end());
  return v;
}

TEST(OnlineRedisTest, WritesViewsAndReadsVectorsByFeatureSet) {
  testing::RedisServer server;
  Pool pool(*ParseUrl(server.url()), Fast());
  OnlineRedis online(std::make_unique<Pool>(*ParseUrl(server.url()), Fast()));
  v1::OnlineView view;
  view.set_name("users/t-1");
  view.add_features("a");
  view.add_features("b");
  view.add_features("c");
  view.add_feature_sets("fs-1");
  view.add_feature_sets("fs-2");
  view.set_version(4);
  EXPECT_FALSE(online.StoredView("users/t-1")->has_value());
  // Unknown before the write; not remembered as unknown.
  auto before = online.Get("fs-1", {"k"}, {"a"});
  EXPECT_EQ(before.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(before.status().message(), HasSubstr("fs-1"));
  std::vector<std::pair<std::string, v1::OnlineValue>> values;
  for (int i = 0; i < 3000; ++i)  // Three pipelined chunks.
    values.emplace_back("u" + std::to_string(i),
                        Value(i, {i + 0.5, -1.0 * i, 7}));
  values.emplace_back(std::string("odd\0key:val", 11), Value(1, {1, 2, 3}));
  OnlineRedis::ValueRefs refs;
  for (const auto& [k, v] : values) refs.emplace_back(k, &v);
  // Not created yet: an update of a view Redis does not have is refused.
  EXPECT_EQ(online.Write(view, refs, /*create=*/false).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(online.Write(view, refs, /*create=*/true).ok());
  ASSERT_TRUE(online.Write(view, refs, /*create=*/false).ok());
  EXPECT_EQ((*online.StoredView("users/t-1"))->version(), 4);
  auto got = online.Get(
      "fs-2", {"u2999", "nobody", std::string("odd\0key:val", 11)}, {"c", "a"});
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0], (std::vector<double>{7, 2999.5}));
  EXPECT_FALSE((*got)[1].has_value());
  EXPECT_EQ((*got)[2], (std::vector<double>{3, 1}));
  auto all = online.Get("users/t-1", {"u1"}, {"a", "b", "c"});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0], (std::vector<double>{1.5, -1, 7}));
  auto wrong = online.Get("fs-1", {"u1"}, {"zz"});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("'zz'"));
  // A corrupt value is DATA_LOSS naming the key, not a wrong vector.
  std::string raw_key =
      std::string("mlpipe:online:val:users/t-1") + '\0' + "u1";
  ASSERT_TRUE(pool.Call({"SET", raw_key, "\xff\xff\xff"}).ok());
  auto corrupt = online.Get("fs-1", {"u1"}, {"a"});
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(corrupt.status().message(), HasSubstr("'u1'"));
  // Redis down: UNAVAILABLE, for the reader and the writer.
  server.Kill();
  EXPECT_EQ(online.Get("fs-1", {"u2"}, {"a"}).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(online.Write(view, refs, true).code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace mlpipe::redis
