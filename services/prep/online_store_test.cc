// The online store's Redis copy (services/prep/online_store.h) against a real
// redis-server: a write that fails partway through a dataset version is
// made good by SyncMirror, whatever the versions say.
#include "services/prep/online_store.h"

#include "common/redis/online_redis.h"
#include "common/util/testing.h"
#include "gtest/gtest.h"

namespace mlpipe::prep {
namespace {

OnlineRow Row(const std::string& key, double x) {
  OnlineRow r;
  r.key = key;
  r.values = {x};
  return r;
}

std::unique_ptr<redis::OnlineRedis> Connect(const testing::RedisServer& s) {
  redis::PoolOptions o;
  o.retry_after = std::chrono::milliseconds(0);
  return std::make_unique<redis::OnlineRedis>(
      std::make_unique<redis::Pool>(*redis::ParseUrl(s.url()), o));
}

// A store with one view (feature set fs-1, one feature x), its Redis copy
// written; a reader and an admin client of that Redis.
class OnlineStoreMirrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = OnlineStore::Load(store_.get(), mirror_.get());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    online_ = *std::move(loaded);
    v1::OnlineView view;
    view.set_name("d/t-1");
    view.add_features("x");
    view.add_feature_sets("fs-1");
    ASSERT_TRUE(online_->PutView(view).ok());
    ASSERT_TRUE(online_->SyncMirror().ok());
  }

  testing::RedisServer server_;
  std::unique_ptr<redis::OnlineRedis> mirror_ = Connect(server_),
                                      reader_ = Connect(server_);
  redis::Pool admin_{*redis::ParseUrl(server_.url()), {}};
  std::unique_ptr<storage::Store> store_ = storage::NewMemoryStore();
  std::unique_ptr<OnlineStore> online_;
};

TEST_F(OnlineStoreMirrorTest, AFailedWriteWithinAVersionIsWrittenAgain) {
  // Two chunks of one dataset version: the first reaches Redis ...
  ASSERT_TRUE(online_->Upsert("d/t-1", 1, {Row("a", 1)}).ok());
  EXPECT_EQ(online_->ViewsBehind(), 0u);
  EXPECT_EQ((*reader_->Get("fs-1", {"a"}, {"x"}))[0], std::vector<double>{1});
  // ... the second does not (Redis refuses writes: out of memory).
  ASSERT_TRUE(admin_.Call({"CONFIG", "SET", "maxmemory", "1"}).ok());
  ASSERT_TRUE(online_->Upsert("d/t-1", 1, {Row("b", 2)}).ok());
  EXPECT_EQ(online_->ViewsBehind(), 1u);
  EXPECT_FALSE(online_->SyncMirror().ok());
  ASSERT_TRUE(admin_.Call({"CONFIG", "SET", "maxmemory", "0"}).ok());
  // Redis's copy says version 1, as prep's does; it still lacks b.
  ASSERT_TRUE(online_->SyncMirror().ok());
  EXPECT_EQ(online_->ViewsBehind(), 0u);
  auto got = reader_->Get("fs-1", {"a", "b"}, {"x"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0], std::vector<double>{1});
  EXPECT_EQ((*got)[1], std::vector<double>{2});
  // A matching copy is left alone: no whole write (no MSET) this time.
  auto msets = [&] {
    std::string info = admin_.Call({"INFO", "commandstats"})->str;
    size_t at = info.find("cmdstat_mset:calls=");
    return at == std::string::npos ? 0 : std::stoi(info.substr(at + 19));
  };
  const int before = msets();
  ASSERT_TRUE(online_->SyncMirror().ok());
  EXPECT_EQ(msets(), before);
}

// Pushed rows (the latest values only, no fsync, version 0) reach the
// Redis copy as uploaded ones do, and the copy still matches after them.
TEST_F(OnlineStoreMirrorTest, PushedValuesReachRedisAtOnce) {
  ASSERT_TRUE(online_->Upsert("d/t-1", 1, {Row("a", 1)}).ok());
  ASSERT_TRUE(online_
                  ->Upsert("d/t-1", 0, {Row("a", 5), Row("c", 3)},
                           /*pushed_through=*/12, /*sync=*/false,
                           UpsertParts::kLatest)
                  .ok());
  EXPECT_EQ(online_->ViewsBehind(), 0u);
  auto got = reader_->Get("fs-1", {"a", "c"}, {"x"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)[0], std::vector<double>{5});
  EXPECT_EQ((*got)[1], std::vector<double>{3});
  ASSERT_TRUE(online_->SyncMirror().ok());
  EXPECT_EQ(online_->ViewsBehind(), 0u);
}

// Redis flushed under a reader that knows the view: UNAVAILABLE (not "no
// such key") until prep has written it again.
TEST_F(OnlineStoreMirrorTest, ALostViewIsUnavailableUntilWrittenAgain) {
  ASSERT_TRUE(online_->Upsert("d/t-1", 1, {Row("a", 1)}).ok());
  ASSERT_TRUE(reader_->Get("fs-1", {"a"}, {"x"}).ok());
  ASSERT_TRUE(admin_.Call({"FLUSHALL"}).ok());
  auto lost = reader_->Get("fs-1", {"a"}, {"x"});
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(lost.status().message().find("lost online view d/t-1"),
            std::string::npos)
      << lost.status();
  // An update finds the view gone (SET XX) and leaves it to SyncMirror.
  ASSERT_TRUE(online_->Upsert("d/t-1", 2, {Row("b", 2)}).ok());
  EXPECT_EQ(online_->ViewsBehind(), 1u);
  ASSERT_TRUE(online_->SyncMirror().ok());
  auto back = reader_->Get("fs-1", {"a", "b"}, {"x"});
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)[0], std::vector<double>{1});
  EXPECT_EQ((*back)[1], std::vector<double>{2});
}

}  // namespace
}  // namespace mlpipe::prep

namespace mlpipe::prep {
namespace {

// Pushed rows go to the latest values only (UpsertParts::kLatest): a
// point-in-time lookup still answers with one while it is the key's newest
// value at or before the time asked, and with the history before it.
TEST(OnlineStorePushTest, AsOfSeesAPushedLatestValueAndTheHistoryBeforeIt) {
  auto store = storage::NewMemoryStore();
  auto online = OnlineStore::Load(store.get());
  ASSERT_TRUE(online.ok()) << online.status();
  v1::OnlineView view;
  view.set_name("d/t-1");
  view.add_features("x");
  view.set_event_timestamp("at");
  ASSERT_TRUE((*online)->PutView(view).ok());
  OnlineRow uploaded = Row("a", 1);
  uploaded.event_micros = 100;
  ASSERT_TRUE((*online)->Upsert("d/t-1", 1, {uploaded}).ok());
  OnlineRow pushed = Row("a", 2);
  pushed.event_micros = 200;
  ASSERT_TRUE((*online)
                  ->Upsert("d/t-1", 0, {pushed}, /*pushed_through=*/7,
                           /*sync=*/false, UpsertParts::kLatest)
                  .ok());
  EXPECT_EQ((*online)->GetView("d/t-1")->pushed_through(), 7);
  auto now = (*online)->AsOf("d/t-1", "a", 250);
  ASSERT_TRUE(now.ok() && now->found);
  EXPECT_EQ(now->value.values(0), 2);
  auto before = (*online)->AsOf("d/t-1", "a", 150);
  ASSERT_TRUE(before.ok() && before->found);
  EXPECT_EQ(before->value.values(0), 1);
  EXPECT_FALSE((*online)->AsOf("d/t-1", "a", 50)->found);
}

}  // namespace
}  // namespace mlpipe::prep
