#include "common/audit/audit_log.h"

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace mlpipe::audit {
namespace {

using google::protobuf::util::TimeUtil;

std::unique_ptr<storage::Store> OpenStore(const std::string& dir) {
  storage::Options o;
  o.column_families = AuditLog::ColumnFamilies();
  o.min_free_bytes = 0;
  auto s = storage::OpenRocksStore(dir, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return std::move(*s);
}

v1::AuditRecord Record(const std::string& principal, const std::string& method,
                       int64_t seconds) {
  v1::AuditRecord r;
  r.set_principal(principal);
  r.set_method(method);
  r.set_outcome("OK");
  *r.mutable_time() = TimeUtil::SecondsToTimestamp(seconds);
  return r;
}

std::vector<uint64_t> Sequences(const v1::ListAuditRecordsResponse& r) {
  std::vector<uint64_t> out;
  for (const auto& x : r.records()) out.push_back(x.sequence());
  return out;
}

TEST(AuditLogTest, NewestFirstFilteredAndKeptAcrossReopen) {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir.path());
    auto log = AuditLog::Open(store.get());
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 3000; ++i) {
      ASSERT_TRUE((*log)
                      ->Append(Record(i % 3 == 0 ? "alice" : "bob",
                                      i % 2 ? "mlpipe.v1.Scoring/Deploy"
                                            : "mlpipe.v1.Ingestion/Ingest",
                                      1000 + i))
                      .ok());
    }
  }
  auto store = OpenStore(dir.path());
  auto log = AuditLog::Open(store.get());
  ASSERT_TRUE(log.ok());
  v1::ListAuditRecordsRequest q;
  q.set_limit(3);
  auto r = (*log)->List(q);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_THAT(Sequences(*r), ::testing::ElementsAre(3000, 2999, 2998));
  // Filters reach back over several chunks.
  q.set_principal("alice");
  q.set_method("Deploy");
  q.set_limit(10000);
  r = (*log)->List(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->records_size(), 500);  // i % 3 == 0 and odd: i % 6 == 3.
  for (const auto& x : r->records()) {
    EXPECT_EQ(x.principal(), "alice");
    EXPECT_EQ(x.method(), "mlpipe.v1.Scoring/Deploy");
  }
  q.Clear();
  *q.mutable_since() = TimeUtil::SecondsToTimestamp(1000 + 2990);
  r = (*log)->List(q);
  EXPECT_EQ(r->records_size(), 10);
  // Appends continue the sequence after a reopen.
  ASSERT_TRUE((*log)->Append(Record("carol", "x", 5000)).ok());
  q.Clear();
  q.set_limit(1);
  EXPECT_EQ((*log)->List(q)->records(0).sequence(), 3001u);
}

// Pages: each next_page_token reads on from where the last page ended,
// with the same filters, until the trail ends; a bad token is refused.
TEST(AuditLogTest, PagesReadTheWholeTrailOnceWithItsFilters) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  auto log = AuditLog::Open(store.get());
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 2500; ++i) {
    ASSERT_TRUE(
        (*log)
            ->Append(Record(i % 5 == 0 ? "alice" : "bob", "m", 1000 + i))
            .ok());
  }
  v1::ListAuditRecordsRequest q;
  q.set_principal("alice");
  q.set_limit(120);
  std::vector<uint64_t> seen;
  int pages = 0;
  do {
    auto r = (*log)->List(q);
    ASSERT_TRUE(r.ok()) << r.status();
    for (uint64_t s : Sequences(*r)) seen.push_back(s);
    q.set_page_token(r->next_page_token());
    ASSERT_LT(++pages, 10);
  } while (!q.page_token().empty());
  ASSERT_EQ(seen.size(), 500u);  // Every fifth of 2,500, once, newest first.
  for (size_t i = 0; i < seen.size(); ++i)
    EXPECT_EQ(seen[i], 2500 - 4 - 5 * i) << i;
  EXPECT_EQ(pages, 5);  // 120 + 120 + 120 + 120 + 20.
  q.set_page_token("yesterday");
  EXPECT_EQ((*log)->List(q).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(AuditLogTest, KeepsAtMostMaxRecordsAndCutsLongText) {
  testing::TempDir dir;
  auto store = OpenStore(dir.path());
  auto log = AuditLog::Open(store.get(), {.max_records = 100});
  ASSERT_TRUE(log.ok());
  for (int i = 0; i < 1000; ++i) {
    auto r = Record("a", "m", i);
    r.set_target(std::string(2000, 'x'));
    ASSERT_TRUE((*log)->Append(r).ok());
  }
  v1::ListAuditRecordsRequest q;
  q.set_limit(10000);
  auto r = (*log)->List(q);
  ASSERT_TRUE(r.ok());
  EXPECT_LE(r->records_size(), 100);
  EXPECT_GE(r->records_size(), 90);
  EXPECT_EQ(r->records(0).sequence(), 1000u);
  EXPECT_LE(r->records(0).target().size(), 515u);
  // What was dropped is gone from the store, not only from the listing.
  int stored = 0;
  for (auto it = store->Scan("audit_records", ""); it->Valid(); it->Next())
    ++stored;
  EXPECT_EQ(stored, r->records_size());
  // And the bound holds across a reopen.
  log->reset();
  auto again = AuditLog::Open(store.get(), {.max_records = 100});
  ASSERT_TRUE((*again)->Append(Record("a", "m", 2000)).ok());
  EXPECT_LE((*again)->List(q)->records_size(), 100);
}

}  // namespace
}  // namespace mlpipe::audit
