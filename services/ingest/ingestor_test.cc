#include "services/ingest/ingestor.h"

#include <atomic>
#include <filesystem>
#include <thread>

#include "common/storage/key_codec.h"
#include "common/table/frame_codec.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/ingest/row_hashes.h"

namespace mlpipe::ingest {
namespace {

using ::testing::HasSubstr;

class IngestorTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  void Reopen(IngestorOptions options = {}) {
    ingestor_.reset();
    log_.reset();
    store_.reset();
    auto store = storage::OpenRocksStore(dir_.path() + "/db",
                                         Ingestor::StorageOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    log_ = std::move(*events::EventLog::Open(store_.get(), "ingest"));
    if (options.import_root.empty()) options.import_root = dir_.path();
    if (options.block_rows == 65536) options.block_rows = 4;  // Many blocks.
    auto ingestor = Ingestor::Open(options, store_.get(), log_.get());
    ASSERT_TRUE(ingestor.ok()) << ingestor.status();
    ingestor_ = std::move(*ingestor);
  }

  absl::StatusOr<v1::IngestResponse> Ingest(const std::string& dataset,
                                            const std::string& data,
                                            const std::string& key = "",
                                            v1::DataFormat format = v1::CSV,
                                            size_t piece = 7,
                                            v1::IngestMode mode = v1::APPEND) {
    v1::IngestHeader h;
    h.set_dataset(dataset);
    h.set_format(format);
    h.set_mode(mode);
    h.set_idempotency_key(key);
    auto upload = ingestor_->BeginUpload(h);
    if (!upload.ok()) return upload.status();
    for (size_t i = 0; i < data.size(); i += piece) {
      if (auto s = (*upload)->AddChunk(std::string_view(data).substr(i, piece));
          !s.ok()) {
        return s;
      }
    }
    return (*upload)->Finish();
  }

  // Every row of the dataset as text cells ("<NA>" for missing).
  std::vector<std::vector<std::string>> ReadAll(v1::ReadBatchesRequest req,
                                                int* frames = nullptr) {
    auto reader = ingestor_->Read(req);
    EXPECT_TRUE(reader.ok()) << reader.status();
    std::vector<std::vector<std::string>> rows;
    v1::Frame f;
    while (true) {
      auto more = (*reader)->Next(&f);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      if (frames) ++*frames;
      EXPECT_EQ(f.row_offset(), static_cast<int64_t>(rows.size()));
      auto t = table::TableFromFrame(std::move(f));
      EXPECT_TRUE(t.ok());
      for (size_t r = 0; r < t->num_rows; ++r) {
        std::vector<std::string> row;
        for (const auto& c : t->columns) {
          if (!c.IsValid(r)) {
            row.push_back("<NA>");
          } else if (c.type == table::ColumnType::kNumeric) {
            row.push_back(std::to_string(c.numbers[r]));
          } else if (c.type == table::ColumnType::kTimestamp) {
            row.push_back(std::to_string(c.timestamps[r]));
          } else {
            row.push_back(c.strings[r]);
          }
        }
        rows.push_back(row);
      }
    }
    return rows;
  }

  // An upload with `h` (dataset "sales" unless set), in pieces of 5 bytes.
  absl::StatusOr<v1::IngestResponse> Upload(v1::IngestHeader h,
                                            std::string_view data) {
    if (h.dataset().empty()) h.set_dataset("sales");
    auto upload = ingestor_->BeginUpload(h);
    if (!upload.ok()) return upload.status();
    for (size_t i = 0; i < data.size(); i += 5) {
      if (auto s = (*upload)->AddChunk(data.substr(i, 5)); !s.ok()) return s;
    }
    return (*upload)->Finish();
  }

  absl::StatusOr<v1::IngestResponse> Replace(const std::string& data,
                                             const std::string& key = "") {
    return Ingest("sales", data, key, v1::CSV, 7, v1::REPLACE);
  }

  // Rows of version `version` of "sales".
  size_t RowsOf(int64_t version) {
    v1::ReadBatchesRequest req;
    req.set_dataset("sales");
    req.set_up_to_version(version);
    return ReadAll(req).size();
  }

  int CountKeys(const std::string& cf) {
    int n = 0;
    for (auto it = store_->Scan(cf, ""); it->Valid(); it->Next()) ++n;
    return n;
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> log_;
  std::unique_ptr<Ingestor> ingestor_;
};

const char kCsv[] =
    "id,amount,city,when\n"
    "1,10.5,Paris,2024-01-01\n"
    "2,,\"Rome, IT\",2024-01-02\n"
    "3,7,,2024-01-03\n"
    "4,8,Oslo,\n"
    "5,9,Oslo,2024-01-05\n";

TEST_F(IngestorTest, CsvBatchIsTypedStoredAndReadBack) {
  auto r = Ingest("sales", kCsv);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Batch& b = r->batch();
  EXPECT_EQ(b.row_count(), 5);
  EXPECT_EQ(b.version(), 1);
  EXPECT_EQ(b.block_count(), 2);  // block_rows = 4.
  EXPECT_THAT(b.content_hash(), HasSubstr("sha256:"));
  ASSERT_EQ(b.schema().fields_size(), 4);
  EXPECT_EQ(b.schema().fields(0).type(), v1::NUMERIC);
  EXPECT_EQ(b.schema().fields(2).type(), v1::CATEGORICAL);
  EXPECT_EQ(b.schema().fields(3).type(), v1::TIMESTAMP);
  EXPECT_EQ(b.schema().fields(3).timestamp_format(), "%Y-%m-%d");

  v1::ReadBatchesRequest req;
  req.set_dataset("sales");
  auto rows = ReadAll(req);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[1][1], "<NA>");
  EXPECT_EQ(rows[1][2], "Rome, IT");
  EXPECT_EQ(rows[2][2], "<NA>");
  EXPECT_EQ(rows[3][3], "<NA>");
  EXPECT_EQ(rows[4][0], std::to_string(5.0));
  EXPECT_EQ(CountKeys("pending"), 0);
}

const char kEdited[] =
    "id,amount,city,when\n"
    "1,10.5,Paris,2024-01-01\n"
    "2,3,Rome,2024-01-02\n"
    "6,1,Oslo,2024-01-06\n";

TEST_F(IngestorTest, ReplaceMakesAVersionOfTheFileAlone) {
  auto first = Replace(kCsv);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->version().version(), 1);
  EXPECT_EQ(first->version().change(), "replace");
  auto edited = Replace(kEdited);
  ASSERT_TRUE(edited.ok()) << edited.status();
  EXPECT_EQ(edited->version().version(), 2);
  EXPECT_EQ(edited->version().row_count(), 3);  // Not 5 + 3.
  EXPECT_TRUE(edited->new_version());
  EXPECT_EQ(RowsOf(2), 3u);
  EXPECT_EQ(RowsOf(1), 5u);  // Earlier versions read as they were.
  EXPECT_EQ(ingestor_->GetDataset("sales")->row_count(), 3);
  // The same content again: no new version, nothing stored twice.
  const int blocks = CountKeys("blocks");
  auto again = Replace(kEdited);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->deduplicated());
  EXPECT_FALSE(again->new_version());
  EXPECT_EQ(again->version().version(), 2);
  EXPECT_EQ(again->batch().id(), edited->batch().id());
  EXPECT_EQ(CountKeys("blocks"), blocks);
  EXPECT_EQ(CountKeys("batches"), 2);
  EXPECT_EQ(ingestor_->GetDataset("sales")->versions_size(), 2);
}

TEST_F(IngestorTest, ReplaceWithAnEarlierFilesKeyMakesAVersionOfItsBatch) {
  auto a = Replace(kCsv, "file-a");
  auto b = Replace(kEdited, "file-b");
  ASSERT_TRUE(a.ok() && b.ok());
  auto back = Replace(kCsv, "file-a");  // The user restores the first file.
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->batch().id(), a->batch().id());
  EXPECT_TRUE(back->new_version());
  EXPECT_EQ(back->version().version(), 3);
  EXPECT_EQ(RowsOf(3), 5u);
  EXPECT_EQ(CountKeys("batches"), 2);
  // Unchanged since: no version.
  auto same = Replace(kCsv, "file-a");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version().version(), 3);
  EXPECT_FALSE(same->new_version());
}

TEST_F(IngestorTest, AppendCountsRowsTheDatasetHasAlready) {
  ASSERT_TRUE(Ingest("sales", kCsv).ok());
  auto twice = Ingest("sales", kCsv);  // The whole file again.
  ASSERT_TRUE(twice.ok()) << twice.status();
  EXPECT_EQ(twice->duplicates(), 5);
  EXPECT_EQ(twice->version().duplicate_rows(), 5);
  EXPECT_EQ(twice->version().row_count(), 10);
  EXPECT_EQ(twice->version().change(), "append");
  auto edited = Ingest("sales", kEdited);  // Shares one row with kCsv.
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(edited->duplicates(), 1);
  EXPECT_EQ(edited->version().duplicate_rows(), 6);
  // A row repeated within one upload counts too; column order does not.
  auto inner = Ingest("other", "a,b\n1,x\n1,x\n2,y\n");
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner->batch().duplicate_rows(), 1);
  auto swapped = Ingest("other", "b,a\nx,1\n");
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  EXPECT_EQ(swapped->duplicates(), 1);
}

// Rows hash the same from a block in the stored layouts (integers,
// timestamp deltas) as from the wire layouts, so appends compare batches
// of either kind.
TEST(RowHashesTest, StoredAndWireLayoutsHashAlike) {
  table::Column t{.name = "t", .type = table::ColumnType::kTimestamp};
  table::Column n{.name = "n", .type = table::ColumnType::kNumeric};
  for (int i = 0; i < 50; ++i) {
    t.timestamps.push_back(i % 4 == 1 ? 0 : 1000000LL * (i * 37 % 11));
    t.valid.PushBack(i % 4 != 1);
    n.numbers.push_back(i % 6 == 0 ? -0.0 : i % 7);
    n.valid.PushBack(i % 9 != 2);
  }
  n.numbers[5] = 0;  // -0 and 0 hash alike; the column stays integers.
  for (auto& c : {t, n}) {
    v1::Column wire, stored;
    table::ColumnToProto(c, &wire);
    table::Column copy = c;
    if (c.type == table::ColumnType::kNumeric)  // -0 would keep doubles.
      for (double& v : copy.numbers) v = v == 0 ? 0 : v;
    table::ColumnToStoredProto(std::move(copy), &stored);
    ASSERT_TRUE(stored.integers_size() > 0 ||
                stored.timestamp_deltas_size() > 0);
    std::vector<uint64_t> a(50, 0), b(50, 0);
    AddToRowHashes(wire, &a);
    AddToRowHashes(stored, &b);
    EXPECT_EQ(a, b) << c.name;
  }
}

TEST_F(IngestorTest, AnAppendRetriedAfterAReplaceAddsItsBatchAgain) {
  auto a = Ingest("sales", kCsv, "upload-a");
  ASSERT_TRUE(Replace(kEdited).ok());
  auto retried = Ingest("sales", kCsv, "upload-a");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(retried->new_version());
  EXPECT_EQ(retried->batch().id(), a->batch().id());
  EXPECT_EQ(retried->version().row_count(), 8);
  auto again = Ingest("sales", kCsv, "upload-a");  // Now in the latest.
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->new_version());
  EXPECT_EQ(again->version().version(), 3);
}

TEST_F(IngestorTest, RevertMakesAVersionOfAnEarlierOnesBatches) {
  ASSERT_TRUE(Ingest("sales", kCsv).ok());
  ASSERT_TRUE(Ingest("sales", kEdited).ok());  // The bad upload.
  auto ds = ingestor_->RevertDataset("sales", 1);
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ(ds->versions_size(), 3);
  EXPECT_EQ(ds->versions(2).change(), "revert to v1");
  EXPECT_EQ(ds->versions(2).row_count(), 5);
  EXPECT_EQ(RowsOf(3), 5u);
  EXPECT_EQ(RowsOf(2), 8u);  // Kept: a revert deletes nothing.
  EXPECT_EQ(ingestor_->RevertDataset("sales", 9).status().code(),
            absl::StatusCode::kNotFound);
  // Appending after a revert builds on the reverted version.
  auto next = Ingest("sales", kEdited);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->version().row_count(), 8);
}

TEST_F(IngestorTest, DeletingABatchMakesAVersionWithoutIt) {
  auto a = Ingest("sales", kCsv);
  auto b = Ingest("sales", kEdited, "bad-upload");
  ASSERT_TRUE(a.ok() && b.ok());
  auto ds = ingestor_->DeleteBatch("sales", b->batch().id());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ(ds->versions_size(), 3);
  EXPECT_EQ(ds->versions(2).row_count(), 5);
  EXPECT_EQ(RowsOf(3), 5u);
  EXPECT_EQ(RowsOf(1), 5u);
  v1::ReadBatchesRequest v2;
  v2.set_dataset("sales");
  v2.set_up_to_version(2);
  auto gone = ingestor_->Read(v2);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(gone.status().message()),
              HasSubstr("version 2 can no longer be read"));
  EXPECT_EQ(CountKeys("batches"), 1);
  EXPECT_TRUE(ingestor_->ListBatches(*ds).ok());
  // The deleted upload's key no longer names it: the same upload is new.
  auto retried = Ingest("sales", kEdited, "bad-upload");
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_FALSE(retried->deduplicated());
  EXPECT_EQ(ingestor_->DeleteBatch("sales", "b-nope").status().code(),
            absl::StatusCode::kNotFound);
  // Everything survives a restart.
  Reopen();
  EXPECT_EQ(RowsOf(4), 8u);
}

TEST_F(IngestorTest, TextThatIsNotUtf8IsRefusedNamingLineAndColumn) {
  ASSERT_TRUE(Ingest("sales", kCsv).ok());
  v1::IngestHeader h;
  h.set_source("people.csv");
  // "Jos\xE9" is Latin-1: 0xE9 alone is no UTF-8.
  const std::string latin1 = "id,amount,city,when\n7,1,Paris,\n8,2,Jos\xE9,\n";
  auto bad = Upload(h, latin1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("people.csv: line 3, column 'city': not valid UTF-8 "
                        "(byte 0xE9 at byte 4 of the value); a file in "
                        "Latin-1"));
  // Nothing stored; what was stored reads as before.
  EXPECT_EQ(ingestor_->GetDataset("sales")->versions_size(), 1);
  EXPECT_EQ(RowsOf(0), 5u);
  EXPECT_EQ(CountKeys("pending"), 0);
  // Declared as Latin-1, it is stored as UTF-8.
  h.set_encoding("latin1");
  auto good = Upload(h, latin1);
  ASSERT_TRUE(good.ok()) << good.status();
  v1::ReadBatchesRequest req;
  req.set_dataset("sales");
  auto rows = ReadAll(req);
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[6][2], "Jos\xC3\xA9");
  // Overlong and surrogate forms are no UTF-8 either.
  EXPECT_FALSE(Upload({}, "a\n\xC0\xAF\n").ok());
  EXPECT_FALSE(Upload({}, "a\n\xED\xA0\x80\n").ok());
  h.set_encoding("ebcdic");
  EXPECT_THAT(std::string(Upload(h, latin1).status().message()),
              HasSubstr("header.encoding: 'ebcdic' is not utf-8 or latin1"));
}

TEST_F(IngestorTest, AByteOrderMarkIsNotPartOfTheFirstColumnsName) {
  auto r = Upload({}, "\xEF\xBB\xBF\"Status\",x\ngood,1\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->batch().schema().fields(0).name(), "Status");
  v1::IngestHeader jsonl;
  jsonl.set_dataset("events");
  jsonl.set_format(v1::JSONL);
  auto j = Upload(jsonl, "\xEF\xBB\xBF{\"a\": 1}\n");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(j->batch().schema().fields(0).name(), "a");
}

TEST_F(IngestorTest, AFileReadAsOneColumnGetsADelimiterHint) {
  auto r = Upload({}, "id;amount;city\n1;2;Oslo\n3;4;Rome\n");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->warnings_size(), 1);
  EXPECT_THAT(r->warnings(0),
              HasSubstr("read as one column ('id;amount;city'); with "
                        "delimiter ';' it has 3 columns"));
  // A quoted header with another delimiter fails to parse: the error asks.
  auto quoted = Upload({}, "\"Status\";x\ngood;1\n");
  EXPECT_THAT(std::string(quoted.status().message()),
              HasSubstr("or is the delimiter ';'?"));
  v1::IngestHeader h;
  h.set_dataset("notes");
  auto prose = Upload(h, "note\nfine; thanks\nok\n");  // Not consistent.
  ASSERT_TRUE(prose.ok());
  EXPECT_EQ(prose->warnings_size(), 0);
}

TEST_F(IngestorTest, DeclaredTypesOverrideInference) {
  v1::IngestHeader h;
  (*h.mutable_types())["region"] = v1::CATEGORICAL;
  auto r = Upload(h, "region,x\n01,1\n02,2\n10,3\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->batch().schema().fields(0).type(), v1::CATEGORICAL);
  v1::ReadBatchesRequest req;
  req.set_dataset("sales");
  EXPECT_EQ(ReadAll(req)[0][0], "01");  // The text, leading zero kept.
  // A column keeps its type.
  (*h.mutable_types())["x"] = v1::CATEGORICAL;
  EXPECT_THAT(std::string(Upload(h, "region,x\n03,4\n").status().message()),
              HasSubstr("header.types.x: dataset 'sales' has the column as "
                        "numeric"));
  // Numeric declared: a cell that is no number is an error, not a widening.
  v1::IngestHeader n;
  n.set_dataset("numbers");
  (*n.mutable_types())["v"] = v1::NUMERIC;
  EXPECT_THAT(std::string(Upload(n, "v\n1\nabc\n").status().message()),
              HasSubstr("value 'abc' at line 3 is not a number"));
  (*n.mutable_types())["v"] = v1::TIMESTAMP;
  EXPECT_EQ(Upload(n, "v\n1\n").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IngestorTest, RetriedUploadWithSameKeyReturnsTheFirstBatch) {
  auto first = Ingest("sales", kCsv, "upload-1");
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->deduplicated());
  int blocks = CountKeys("blocks");
  auto again = Ingest("sales", kCsv, "upload-1", v1::CSV, 3);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->deduplicated());
  EXPECT_EQ(again->batch().id(), first->batch().id());
  EXPECT_EQ(ingestor_->GetDataset("sales")->versions_size(), 1);
  EXPECT_EQ(CountKeys("blocks"), blocks);

  auto different =
      Ingest("sales", std::string(kCsv) + "6,1,X,2024-01-06\n", "upload-1");
  EXPECT_EQ(different.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(different.status().ToString(), HasSubstr("different content"));
}

TEST_F(IngestorTest, ConcurrentUploadWithSameKeyIsAborted) {
  v1::IngestHeader h;
  h.set_dataset("d");
  h.set_idempotency_key("k");
  auto first = ingestor_->BeginUpload(h);
  ASSERT_TRUE(first.ok());
  auto second = ingestor_->BeginUpload(h);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted);
  first->reset();
  EXPECT_TRUE(ingestor_->BeginUpload(h).ok());
}

TEST_F(IngestorTest, CompatibleBatchAddsAVersion) {
  ASSERT_TRUE(Ingest("sales", kCsv).ok());
  // Same columns in another order.
  auto r = Ingest("sales", "city,id,when,amount\nLima,6,2024-02-01,3\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->batch().version(), 2);
  auto ds = ingestor_->GetDataset("sales");
  EXPECT_EQ(ds->row_count(), 6);
  ASSERT_EQ(ds->versions_size(), 2);
  v1::ReadBatchesRequest req;
  req.set_dataset("sales");
  req.add_columns("id");
  req.add_columns("city");
  auto rows = ReadAll(req);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[5][1], "Lima");
  req.set_up_to_version(1);
  EXPECT_EQ(ReadAll(req).size(), 5u);
}

TEST_F(IngestorTest, IncompatibleColumnsAreRejectedAndNothingIsStored) {
  ASSERT_TRUE(Ingest("sales", kCsv).ok());
  int blocks = CountKeys("blocks");
  auto r = Ingest("sales", "id,amount,country\n1,2,FR\n");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().ToString(), HasSubstr("missing columns [city, when]"));
  EXPECT_THAT(r.status().ToString(), HasSubstr("unexpected columns [country]"));
  EXPECT_EQ(ingestor_->GetDataset("sales")->versions_size(), 1);
  EXPECT_EQ(CountKeys("blocks"), blocks);
  EXPECT_EQ(CountKeys("pending"), 0);
}

TEST_F(IngestorTest, TypeConflictNamesColumnAndLine) {
  ASSERT_TRUE(Ingest("sales", kCsv).ok());
  int blocks = CountKeys("blocks");
  auto r = Ingest(
      "sales", "id,amount,city,when\n1,2,A,2024-01-01\n2,lots,B,2024-01-01\n");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      r.status().ToString(),
      HasSubstr("column 'amount': value 'lots' at line 3 is not a number"));
  EXPECT_EQ(CountKeys("blocks"), blocks);
  EXPECT_EQ(ingestor_->GetDataset("sales")->row_count(), 5);
}

TEST_F(IngestorTest, MalformedCsvStoresNothing) {
  std::string bad = "a,b\n1,2\n3,4\n5,6\n7,8\n9,10\n11\n";
  auto r = Ingest("bad", bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().ToString(), HasSubstr("line 7: expected 2 fields"));
  EXPECT_EQ(ingestor_->GetDataset("bad").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CountKeys("blocks"), 0);
  EXPECT_EQ(CountKeys("pending"), 0);
  EXPECT_EQ(CountKeys("batches"), 0);
}

TEST_F(IngestorTest, AbandonedUploadLeavesNothing) {
  v1::IngestHeader h;
  h.set_dataset("d");
  {
    auto upload = ingestor_->BeginUpload(h);
    ASSERT_TRUE((*upload)->AddChunk("a\n1\n2\n3\n4\n5\n6\n7\n8\n9\n").ok());
  }
  EXPECT_EQ(CountKeys("blocks"), 0);
  EXPECT_EQ(CountKeys("pending"), 0);
}

// A stored schema naming a column twice (or one without a name, or of an
// unknown type) is corrupt:
// reads and appends are DATA_LOSS (a read sent frames with a duplicate
// column, which clients refuse), and the dataset can still be deleted.
TEST_F(IngestorTest, AStoredSchemaWithADuplicateOrUnknownColumnIsDataLoss) {
  ASSERT_TRUE(Ingest("sales", "a,b\n1,x\n").ok());
  auto stored = store_->Get("datasets", "sales");
  ASSERT_TRUE(stored.ok()) << stored.status();
  v1::Dataset ds;
  ASSERT_TRUE(ds.ParseFromString(*stored));
  *ds.mutable_schema()->add_fields() = ds.schema().fields(0);
  ASSERT_TRUE(store_->Put("datasets", "sales", ds.SerializeAsString()).ok());
  v1::ReadBatchesRequest req;
  req.set_dataset("sales");
  auto read = ingestor_->Read(req);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr("column 'a' twice"));
  EXPECT_EQ(Ingest("sales", "a,b\n2,y\n").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(ingestor_->DeleteDataset("sales").ok());
  EXPECT_EQ(ingestor_->GetDataset("sales").status().code(),
            absl::StatusCode::kNotFound);
  // A type no reader knows (it was sent on, and the client could not
  // decode the frame).
  ASSERT_TRUE(Ingest("sales", "a,b\n1,x\n").ok());
  ASSERT_TRUE(ds.ParseFromString(*store_->Get("datasets", "sales")));
  ds.mutable_schema()->mutable_fields(1)->set_type(
      static_cast<v1::ColumnType>(92));
  ASSERT_TRUE(store_->Put("datasets", "sales", ds.SerializeAsString()).ok());
  EXPECT_THAT(ingestor_->Read(req).status().ToString(),
              HasSubstr("column 'b' of unknown type 92"));
}

TEST_F(IngestorTest, RestartDeletesBlocksOfUploadsThatNeverCommitted) {
  // What a crash mid-upload leaves behind: a pending marker and blocks.
  std::string id = "b0000000000000000000";
  ASSERT_TRUE(store_->Put("pending", id, "d").ok());
  for (uint32_t blk = 0; blk < 3; ++blk) {
    std::string key = id;
    storage::AppendU32(&key, blk);
    storage::AppendU32(&key, 0);
    ASSERT_TRUE(store_->Put("blocks", key, "x").ok());
  }
  ASSERT_TRUE(Ingest("kept", "a\n1\n").ok());
  int kept_blocks = CountKeys("blocks") - 3;
  Reopen();
  EXPECT_EQ(CountKeys("pending"), 0);
  EXPECT_EQ(CountKeys("blocks"), kept_blocks);
  EXPECT_EQ(ingestor_->GetDataset("kept")->row_count(), 1);
}

TEST_F(IngestorTest, LaterTextWidensNumericColumnToCategorical) {
  auto r = Ingest("codes", "code\n1\n2\n3\n4\n5\nA7\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->batch().schema().fields(0).type(), v1::CATEGORICAL);
  v1::ReadBatchesRequest req;
  req.set_dataset("codes");
  auto rows = ReadAll(req);
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[0][0], "1");
  EXPECT_EQ(rows[5][0], "A7");
}

TEST_F(IngestorTest, JsonLinesWithVaryingKeys) {
  auto r = Ingest("j",
                  "{\"a\": 1, \"b\": \"x\"}\n{\"a\": 2}\n{\"c\": true}\n"
                  "{\"a\": 3}\n{\"b\": \"y\", \"a\": null}\n",
                  "", v1::JSONL);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->batch().schema().fields_size(), 3);
  EXPECT_EQ(r->batch().schema().fields(0).type(), v1::NUMERIC);
  v1::ReadBatchesRequest req;
  req.set_dataset("j");
  auto rows = ReadAll(req);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[2][2], "true");
  EXPECT_EQ(rows[4][0], "<NA>");
  EXPECT_EQ(rows[4][1], "y");
  EXPECT_EQ(rows[4][2], "<NA>");  // Column c did not exist in that block.
}

TEST_F(IngestorTest, TypedFramesAreStoredAsSent) {
  v1::IngestHeader h;
  h.set_dataset("f");
  h.set_format(v1::FRAMES);
  auto upload = ingestor_->BeginUpload(h);
  ASSERT_TRUE(upload.ok());
  for (int k = 0; k < 3; ++k) {
    table::Table t;
    t.num_rows = 2;
    table::Column c{.name = "x", .type = table::ColumnType::kNumeric};
    c.numbers = {1.0 * k, 2.0 * k};
    c.valid.Resize(2, true);
    t.columns.push_back(c);
    v1::Frame f;
    table::TableToFrame(t, &f);
    ASSERT_TRUE((*upload)->AddFrame(std::move(f)).ok());
  }
  v1::Frame bad;
  bad.set_num_rows(1);
  auto* col = bad.add_columns();
  col->set_name("x");
  col->set_type(v1::CATEGORICAL);
  col->add_strings("oops");
  auto s = (*upload)->AddFrame(std::move(bad));
  // The worker reports the conflict on a later call at the latest.
  auto r = s.ok() ? (*upload)->Finish() : absl::StatusOr<v1::IngestResponse>(s);
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().ToString(),
              HasSubstr("column 'x' is categorical here"));
  EXPECT_EQ(CountKeys("blocks"), 0);
}

TEST_F(IngestorTest, ReadBatchesProjectionLimitsAndErrors) {
  ASSERT_TRUE(Ingest("sales", kCsv).ok());
  v1::ReadBatchesRequest req;
  req.set_dataset("sales");
  req.set_max_rows_per_frame(2);
  int frames = 0;
  EXPECT_EQ(ReadAll(req, &frames).size(), 5u);
  EXPECT_EQ(frames, 3);  // Blocks of 4 + 1 rows, frames of at most 2.
  req.add_columns("nope");
  auto reader = ingestor_->Read(req);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().ToString(), HasSubstr("no column 'nope'"));
  req.set_dataset("missing");
  EXPECT_EQ(ingestor_->Read(req).status().code(), absl::StatusCode::kNotFound);
  // A negative version is refused, not read as no rows.
  req.set_dataset("sales");
  req.clear_columns();
  req.set_up_to_version(-1);
  EXPECT_THAT(ingestor_->Read(req).status().ToString(),
              HasSubstr("INVALID_ARGUMENT: up_to_version: -1 is negative"));
}

TEST_F(IngestorTest, IngestFileStaysInsideTheImportRoot) {
  namespace fs = std::filesystem;
  fs::create_directories(dir_.path() + "/in");
  testing::WriteFile(dir_.path() + "/in/ok.csv", "a\n1\n");
  testing::TempDir outside;
  testing::WriteFile(outside.path() + "/secret.csv", "a\n1\n");
  fs::create_symlink(outside.path() + "/secret.csv",
                     dir_.path() + "/in/link.csv");
  IngestorOptions o;
  o.import_root = dir_.path() + "/in";
  Reopen(o);

  v1::IngestFileRequest req;
  req.mutable_header()->set_dataset("f");
  req.set_path("ok.csv");
  auto r = ingestor_->IngestFile(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->batch().source(), "ok.csv");
  for (std::string bad :
       {std::string("../in/ok.csv"), outside.path() + "/secret.csv",
        std::string("link.csv")}) {
    req.set_path(bad);
    EXPECT_EQ(ingestor_->IngestFile(req).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  req.set_path("absent.csv");
  EXPECT_EQ(ingestor_->IngestFile(req).status().code(),
            absl::StatusCode::kNotFound);
  // A NUL byte is refused, not read as the path before it.
  req.set_path(std::string("ok.csv\0../../x", 14));
  EXPECT_THAT(ingestor_->IngestFile(req).status().ToString(),
              HasSubstr("path: contains a NUL byte"));
  // The absolute path of a file under the root is that file.
  req.set_path(dir_.path() + "/in/ok.csv");
  EXPECT_TRUE(ingestor_->IngestFile(req).ok());
}

// A directory swapped for a symlink to outside while uploads run: no
// upload ever reads the outside file (the path was once checked, then
// opened, and the swap in between escaped the root).
TEST_F(IngestorTest, IngestFileNeverEscapesThroughASwappedDirectory) {
  namespace fs = std::filesystem;
  const std::string in = dir_.path() + "/in";
  fs::create_directories(in + "/d");
  testing::WriteFile(in + "/d/f.csv", "a\ninside\n");
  testing::TempDir outside;
  fs::create_directories(outside.path() + "/d");
  testing::WriteFile(outside.path() + "/d/f.csv", "a\nsecret\n");
  IngestorOptions o;
  o.import_root = in;
  Reopen(o);
  std::atomic<bool> stop = false;
  std::thread swapper([&] {
    while (!stop) {
      std::error_code ec;
      fs::rename(in + "/d", in + "/real", ec);
      fs::create_directory_symlink(outside.path() + "/d", in + "/d", ec);
      fs::remove(in + "/d", ec);
      fs::rename(in + "/real", in + "/d", ec);
      std::this_thread::yield();  // Let reads find the real one at times.
    }
  });
  int escaped = 0, read = 0;
  // Until enough reads got through the race (on a loaded machine most
  // attempts find the symlink and are refused).
  for (int i = 0; i < 20000 && read < 100; ++i) {
    v1::IngestFileRequest req;
    req.mutable_header()->set_dataset("f" + std::to_string(i));
    req.set_path("d/f.csv");
    auto r = ingestor_->IngestFile(req);
    if (!r.ok()) continue;
    ++read;
    v1::ReadBatchesRequest rb;
    rb.set_dataset("f" + std::to_string(i));
    for (const auto& row : ReadAll(rb)) escaped += row[0] == "secret";
  }
  stop = true;
  swapper.join();
  EXPECT_EQ(escaped, 0) << "of " << read << " uploads read";
  EXPECT_GT(read, 0);
}

TEST_F(IngestorTest, DeleteRemovesEverythingAndEmitsEvents) {
  ASSERT_TRUE(Ingest("sales", kCsv, "k1").ok());
  ASSERT_TRUE(Ingest("other", "a\n1\n").ok());
  auto n = ingestor_->DeleteDataset("sales");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(ingestor_->GetDataset("sales").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CountKeys("idempotency"), 0);
  EXPECT_EQ(ingestor_->ListDatasets()->size(), 1u);
  // The key is free again: the same upload makes a new batch.
  auto again = Ingest("sales", kCsv, "k1");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->deduplicated());
  uint64_t next;
  auto events = log_->Read(1, {}, 10, &next);
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[0].topic(), "dataset.ingested");
  EXPECT_EQ((*events)[0].attributes().at("dataset"), "sales");
  EXPECT_EQ((*events)[0].attributes().at("rows"), "5");
  EXPECT_EQ((*events)[2].topic(), "dataset.deleted");
  EXPECT_EQ(ingestor_->DeleteDataset("sales2").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(IngestorTest, BadHeaderIsInvalidArgument) {
  v1::IngestHeader h;
  h.set_dataset("../etc");
  EXPECT_THAT(ingestor_->BeginUpload(h).status().ToString(),
              HasSubstr("header.dataset"));
  h.set_dataset("ok");
  h.set_delimiter(";;");
  EXPECT_THAT(ingestor_->BeginUpload(h).status().ToString(),
              HasSubstr("header.delimiter"));
  h.clear_delimiter();
  h.set_format(static_cast<v1::DataFormat>(99));  // Not read as CSV.
  EXPECT_THAT(ingestor_->BeginUpload(h).status().ToString(),
              HasSubstr("header.format: 99 is not a format"));
}

}  // namespace
}  // namespace mlpipe::ingest
