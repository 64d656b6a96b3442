#include "common/storage/store.h"

#include <filesystem>

#include "common/storage/key_codec.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::storage {
namespace {

Options TestOptions() {
  Options o;
  o.column_families = {{.name = "meta"},
                       {.name = "blobs", .large_values = true}};
  return o;
}

// Runs every behavioural test against both implementations.
class StoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      auto s = OpenRocksStore(dir_.path() + "/db", TestOptions());
      ASSERT_TRUE(s.ok()) << s.status();
      store_ = std::move(*s);
    } else {
      store_ = NewMemoryStore();
    }
  }
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, PutGetAndNotFound) {
  ASSERT_TRUE(store_->Put("meta", "a", "1").ok());
  auto v = store_->Get("meta", "a");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, "1");
  EXPECT_EQ(store_->Get("meta", "missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, WriteBatchIsAtomicAndOrdered) {
  WriteBatch b;
  b.Put("meta", "k1", "v1");
  b.Put("meta", "k2", "v2");
  b.Delete("meta", "k1");
  ASSERT_TRUE(store_->Write(b).ok());
  EXPECT_FALSE(store_->Get("meta", "k1").ok());
  EXPECT_EQ(*store_->Get("meta", "k2"), "v2");
}

// RocksStore applies a batch in key order (the memtables' fast path): a
// key's operations keep theirs, and a range deletion stays where it stands.
TEST_P(StoreTest, WriteBatchKeepsEachKeysOrderAndRangeDeletionsPlace) {
  WriteBatch b;
  b.Put("meta", "z", "1");
  b.Put("blobs", "m", "1");
  b.Put("meta", "a", "1");
  b.Delete("meta", "z");
  b.Put("meta", "z", "2");
  b.Put("meta", "a", "2");
  b.Delete("blobs", "m");
  ASSERT_TRUE(store_->Write(b).ok());
  EXPECT_EQ(*store_->Get("meta", "z"), "2");
  EXPECT_EQ(*store_->Get("meta", "a"), "2");
  EXPECT_FALSE(store_->Get("blobs", "m").ok());
  WriteBatch r;
  r.Put("meta", "c", "1");  // Deleted by the range after it,
  r.DeleteRange("meta", "b", "d");
  r.Put("meta", "b", "1");  // not this one, written after it.
  ASSERT_TRUE(store_->Write(r).ok());
  EXPECT_FALSE(store_->Get("meta", "c").ok());
  EXPECT_EQ(*store_->Get("meta", "b"), "1");
}

TEST_P(StoreTest, PrefixScanStopsAtPrefixEndAndHonoursStart) {
  for (std::string k : {"a/1", "a/2", "a/3", "b/1", "a"}) {
    ASSERT_TRUE(store_->Put("meta", k, "x" + k).ok());
  }
  std::vector<std::string> keys;
  for (auto it = store_->Scan("meta", "a/"); it->Valid(); it->Next()) {
    keys.emplace_back(it->key());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"a/1", "a/2", "a/3"}));
  keys.clear();
  for (auto it = store_->Scan("meta", "a/", "a/2"); it->Valid(); it->Next()) {
    keys.emplace_back(it->key());
  }
  EXPECT_EQ(keys, (std::vector<std::string>{"a/2", "a/3"}));
}

TEST_P(StoreTest, DeleteRangeRemovesOnlyTheRange) {
  for (uint32_t i = 0; i < 10; ++i) {
    std::string k = "p";
    AppendU32(&k, i);
    ASSERT_TRUE(store_->Put("blobs", k, std::string(10000, 'a' + i)).ok());
  }
  std::string begin = "p", end = "p";
  AppendU32(&begin, 3);
  AppendU32(&end, 7);
  WriteBatch b;
  b.DeleteRange("blobs", begin, end);
  ASSERT_TRUE(store_->Write(b).ok());
  int n = 0;
  for (auto it = store_->Scan("blobs", "p"); it->Valid(); it->Next()) {
    uint32_t i = DecodeU32(it->key().substr(1));
    EXPECT_TRUE(i < 3 || i >= 7) << i;
    EXPECT_EQ(it->value(), std::string(10000, 'a' + i));
    ++n;
  }
  EXPECT_EQ(n, 6);
}

TEST_P(StoreTest, LastKeyWithAndWithoutPrefix) {
  EXPECT_FALSE(store_->LastKey("meta")->has_value());
  for (std::string k : {"a1", "a2", "b1", "b9", "c"}) {
    ASSERT_TRUE(store_->Put("meta", k, "").ok());
  }
  EXPECT_EQ(**store_->LastKey("meta"), "c");
  EXPECT_EQ(**store_->LastKey("meta", "b"), "b9");
  EXPECT_EQ(**store_->LastKey("meta", "a"), "a2");
  EXPECT_FALSE(store_->LastKey("meta", "d")->has_value());
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreTest, ::testing::Values(true, false),
                         [](const auto& info) {
                           return info.param ? "RocksDB" : "Memory";
                         });

TEST(RocksStoreTest, DataSurvivesReopen) {
  testing::TempDir dir;
  {
    auto s = OpenRocksStore(dir.path(), TestOptions());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Put("meta", "k", "v", {.sync = true}).ok());
  }
  auto s = OpenRocksStore(dir.path(), TestOptions());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*(*s)->Get("meta", "k"), "v");
}

TEST(RocksStoreTest, ADiskWithoutTheReserveIsRefusedBeforeRocksDbMeetsIt) {
  testing::TempDir dir;
  Options o = TestOptions();
  o.min_free_bytes = uint64_t{1} << 60;  // More than any disk has.
  auto s = OpenRocksStore(dir.path(), o);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.status().message()),
              ::testing::HasSubstr("the disk is nearly full"));
  o.min_free_bytes = 1 << 20;
  s = OpenRocksStore(dir.path(), o);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE((*s)->Writable().ok());
  EXPECT_TRUE((*s)->Put("meta", "k", "v").ok());
}

TEST(RocksStoreTest, SecondOpenOfTheSameDirectoryIsUnavailable) {
  testing::TempDir dir;
  auto first = OpenRocksStore(dir.path(), TestOptions());
  ASSERT_TRUE(first.ok());
  auto second = OpenRocksStore(dir.path(), TestOptions());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable)
      << second.status();
}

TEST(RocksStoreTest, UnknownColumnFamilyIsInvalidArgument) {
  testing::TempDir dir;
  auto s = OpenRocksStore(dir.path(), TestOptions());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)->Put("nope", "k", "v").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeyCodecTest, BigEndianOrderMatchesNumericOrder) {
  std::string a, b;
  AppendU64(&a, 255);
  AppendU64(&b, 256);
  EXPECT_LT(a, b);
  EXPECT_EQ(DecodeU64(b), 256u);
  EXPECT_EQ(PrefixEnd("ab"), "ac");
  EXPECT_EQ(PrefixEnd(std::string("a\xff", 2)), "b");
}

}  // namespace
}  // namespace mlpipe::storage
