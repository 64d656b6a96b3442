// Streaming push through the gRPC adapter (in-process channel) over a RocksDB
// store on disk: group commit, acknowledgements, deduplication by (producer,
// sequence) across reconnects and restarts, compaction into versions, and
// what is refused.
#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "clients/push_client.h"
#include "common/rpc/server.h"
#include "common/table/frame_codec.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"
#include "services/ingest/ingest_module.h"

namespace mlpipe::ingest {
namespace {

using ::testing::HasSubstr;

// Rows with ids [first, first + n): user "u<id % 7>", amount id, kind.
v1::Frame Events(int64_t first, int64_t n, bool with_kind = true) {
  table::Table t;
  t.num_rows = static_cast<size_t>(n);
  table::Column user, amount, kind;
  user.name = "user";
  user.type = table::ColumnType::kCategorical;
  amount.name = "amount";
  amount.type = table::ColumnType::kNumeric;
  kind.name = "kind";
  kind.type = table::ColumnType::kCategorical;
  for (int64_t i = first; i < first + n; ++i) {
    user.strings.push_back(StrCat("u", i % 7));
    user.valid.PushBack(true);
    amount.numbers.push_back(static_cast<double>(i));
    amount.valid.PushBack(true);
    kind.strings.push_back(i % 2 ? "card" : "cash");
    kind.valid.PushBack(true);
  }
  t.columns.push_back(std::move(user));
  t.columns.push_back(std::move(amount));
  if (with_kind) t.columns.push_back(std::move(kind));
  v1::Frame f;
  table::TableToFrame(t, &f);
  f.set_num_rows(n);
  return f;
}

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Start();
    v1::IngestResponse resp;
    grpc::ClientContext ctx;
    auto w = stub_->Ingest(&ctx, &resp);
    v1::IngestRequest r;
    r.mutable_header()->set_dataset("ev");
    w->Write(r);
    r.set_chunk("user,amount,kind\nu0,-1,cash\n");
    w->Write(r);
    w->WritesDone();
    ASSERT_TRUE(w->Finish().ok());
  }

  void Start(PushOptions push = {}) {
    server_.reset();
    module_.reset();
    auto m = IngestModule::Open(dir_.path(), {}, push);
    ASSERT_TRUE(m.ok()) << m.status();
    module_ = std::move(*m);
    rpc::ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    auto server = rpc::Server::Start(o, module_->services());
    ASSERT_TRUE(server.ok());
    server_ = std::move(*server);
    stub_ = v1::Ingestion::NewStub(server_->InProcessChannel());
  }
  void Restart(PushOptions push = {}) {
    server_.reset();
    module_->Stop();
    Start(push);
  }

  std::unique_ptr<PushClient> Client(const std::string& producer,
                                     v1::DataFormat format = v1::FRAMES) {
    auto c = PushClient::Open(server_->InProcessChannel(),
                              {.dataset = "ev",
                               .producer = producer,
                               .format = format,
                               .retry_for = std::chrono::seconds(5)});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::move(*c) : nullptr;
  }

  v1::FlushPushesResponse Flush() {
    grpc::ClientContext ctx;
    v1::FlushPushesRequest req;
    req.set_dataset("ev");
    v1::FlushPushesResponse resp;
    auto s = stub_->FlushPushes(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  v1::GetDatasetResponse Dataset() {
    grpc::ClientContext ctx;
    v1::GetDatasetRequest req;
    req.set_name("ev");
    v1::GetDatasetResponse resp;
    EXPECT_TRUE(stub_->GetDataset(&ctx, req, &resp).ok());
    return resp;
  }

  // How many times each amount is stored in the latest version.
  std::map<double, int> Amounts() {
    grpc::ClientContext ctx;
    v1::ReadBatchesRequest req;
    req.set_dataset("ev");
    req.add_columns("amount");
    auto reader = stub_->ReadBatches(&ctx, req);
    std::map<double, int> seen;
    v1::Frame f;
    while (reader->Read(&f)) {
      for (int64_t i = 0; i < f.num_rows(); ++i)
        ++seen[table::NumberAt(f.columns(0), i)];
    }
    EXPECT_TRUE(reader->Finish().ok());
    return seen;
  }

  // Each of `ids` once, and nothing else but the uploaded row (-1).
  void ExpectExactly(int64_t first, int64_t n) {
    auto seen = Amounts();
    EXPECT_EQ(seen.size(), static_cast<size_t>(n) + 1);
    EXPECT_EQ(seen[-1], 1);
    for (int64_t i = first; i < first + n; ++i) {
      ASSERT_EQ(seen[static_cast<double>(i)], 1) << "amount " << i;
    }
  }

  testing::TempDir dir_;
  std::unique_ptr<IngestModule> module_;
  std::unique_ptr<rpc::Server> server_;
  std::unique_ptr<v1::Ingestion::Stub> stub_;
};

TEST_F(PushTest, AcknowledgedRowsArePendingThenAVersionOfTheirOwn) {
  auto c = Client("app-1");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->stats().resumed_after, 0);
  for (int64_t m = 1; m <= 10; ++m) {
    ASSERT_TRUE(c->Send(m, Events((m - 1) * 100, 100)).ok());
  }
  ASSERT_TRUE(c->Flush().ok());
  EXPECT_EQ(c->acked(), 10);
  EXPECT_EQ(Dataset().pushed_rows_pending(), 1000);
  EXPECT_EQ(Dataset().dataset().versions_size(), 1);  // Not a version yet.

  auto flushed = Flush();
  EXPECT_EQ(flushed.rows(), 1000);
  EXPECT_EQ(flushed.dataset().versions_size(), 2);
  EXPECT_EQ(flushed.dataset().row_count(), 1001);
  EXPECT_EQ(Dataset().pushed_rows_pending(), 0);
  auto batches = Dataset().batches();
  ASSERT_EQ(batches.size(), 2);
  EXPECT_EQ(batches[1].source(), "push");
  ExpectExactly(0, 1000);
  ASSERT_TRUE(c->Close().ok());
}

TEST_F(PushTest, AMessageSentAgainIsStoredOnce) {
  auto c = Client("app-1");
  ASSERT_TRUE(c->Send(1, Events(0, 10)).ok());
  ASSERT_TRUE(c->Send(2, Events(10, 10)).ok());
  ASSERT_TRUE(c->Close().ok());
  // A producer that lost track (it crashed) sends from the start again.
  auto again = Client("app-1");
  EXPECT_EQ(again->stats().resumed_after, 2);
  grpc::ClientContext ctx;
  auto rw = stub_->Push(&ctx);
  v1::PushRequest r;
  r.mutable_open()->set_dataset("ev");
  r.mutable_open()->set_producer("app-1");
  again.reset();  // The raw stream below is the producer's only one.
  ASSERT_TRUE(rw->Write(r));
  v1::PushResponse resp;
  if (!rw->Read(&resp)) {
    auto st = rw->Finish();
    FAIL() << st.error_message();
  }
  EXPECT_EQ(resp.acked(), 2);
  for (int64_t seq : {1, 2, 3}) {
    v1::PushRequest m;
    m.set_sequence(seq);
    *m.mutable_frame() = Events((seq - 1) * 10, 10);
    ASSERT_TRUE(rw->Write(m));
  }
  rw->WritesDone();
  int64_t acked = 0, duplicates = 0;
  while (rw->Read(&resp)) {
    acked = resp.acked();
    duplicates = resp.duplicates();
  }
  ASSERT_TRUE(rw->Finish().ok());
  EXPECT_EQ(acked, 3);
  EXPECT_EQ(duplicates, 2);
  Flush();
  ExpectExactly(0, 30);
}

TEST_F(PushTest, MarksSurviveRestartsBeforeAndAfterCompaction) {
  {
    auto c = Client("app-1");
    for (int64_t m = 1; m <= 5; ++m)
      ASSERT_TRUE(c->Send(m, Events((m - 1) * 10, 10)).ok());
    ASSERT_TRUE(c->Close().ok());
  }
  Restart();  // The marks come from the log.
  EXPECT_EQ(Dataset().pushed_rows_pending(), 50);
  {
    auto c = Client("app-1");
    EXPECT_EQ(c->stats().resumed_after, 5);
    for (int64_t m = 1; m <= 7; ++m)  // 1..5 are skipped by the client.
      ASSERT_TRUE(c->Send(m, Events((m - 1) * 10, 10)).ok());
    ASSERT_TRUE(c->Close().ok());
  }
  Flush();
  Restart();  // The marks come from the store; the log is trimmed.
  EXPECT_EQ(Dataset().pushed_rows_pending(), 0);
  auto c = Client("app-1");
  EXPECT_EQ(c->stats().resumed_after, 7);
  ASSERT_TRUE(c->Send(8, Events(70, 10)).ok());
  ASSERT_TRUE(c->Close().ok());
  Flush();
  ExpectExactly(0, 80);
  EXPECT_EQ(Dataset().dataset().versions_size(), 3);
}

TEST_F(PushTest, ACompactionCutShortIsFinishedOnceAtTheNextStart) {
  Restart({.TEST_stop_before_done = true});
  auto c = Client("app-1");
  ASSERT_TRUE(c->Send(1, Events(0, 40)).ok());
  ASSERT_TRUE(c->Close().ok());
  grpc::ClientContext ctx;
  v1::FlushPushesRequest req;
  v1::FlushPushesResponse resp;
  EXPECT_FALSE(stub_->FlushPushes(&ctx, req, &resp).ok());
  // Its upload committed; the log still holds the rows, and the plan says
  // they are being compacted.
  EXPECT_EQ(Dataset().dataset().versions_size(), 2);
  Restart();
  EXPECT_EQ(Dataset().pushed_rows_pending(), 0);
  EXPECT_EQ(Dataset().dataset().versions_size(), 2);
  ExpectExactly(0, 40);
}

TEST_F(PushTest, RowsThatDoNotFitAreRefusedNamingSequenceRowAndColumn) {
  auto c = Client("app-1");
  ASSERT_TRUE(c->Send(1, Events(0, 5)).ok());
  v1::Frame bad = Events(5, 5);
  bad.mutable_columns(1)->set_name("amout");
  absl::Status s = c->Send(2, bad);
  if (s.ok()) s = c->Flush();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(s.message(), HasSubstr("sequence 2"));
  EXPECT_THAT(s.message(),
              HasSubstr("'amout' is not a column of dataset 'ev'"));

  auto c2 = Client("app-2");
  v1::Frame nan = Events(5, 5);
  nan.mutable_columns(1)->set_numbers(3, std::nan(""));
  s = c2->Send(1, nan);
  if (s.ok()) s = c2->Flush();
  EXPECT_THAT(s.message(), HasSubstr("row 3, column 'amount'"));

  auto c3 = Client("app-3");
  v1::Frame typed = Events(5, 5);
  typed.mutable_columns(0)->set_name("amount");
  typed.mutable_columns(1)->set_name("user");
  s = c3->Send(1, typed);
  if (s.ok()) s = c3->Flush();
  EXPECT_THAT(s.message(),
              HasSubstr("'amount' is categorical here but numeric"));

  auto j = Client("app-4", v1::JSONL);
  s = j->SendJsonLines(1,
                       "{\"user\": \"u1\", \"amount\": 3}\n"
                       "{\"user\": \"u1\", \"amount\": \"lots\"}\n");
  if (s.ok()) s = j->Flush();
  EXPECT_THAT(s.message(), HasSubstr("sequence 1"));
  EXPECT_THAT(s.message(), HasSubstr("line 2"));
  EXPECT_THAT(s.message(), HasSubstr("lots"));

  Flush();
  ExpectExactly(0, 5);  // What came before the bad message is stored.
}

TEST_F(PushTest, JsonLinesAndMissingColumnsAreStoredAsNull) {
  auto j = Client("app-1", v1::JSONL);
  ASSERT_TRUE(j->SendJsonLines(1,
                               "{\"user\": \"u1\", \"amount\": 0}\n"
                               "{\"amount\": 1, \"kind\": \"card\"}\n")
                  .ok());
  ASSERT_TRUE(j->Close().ok());
  auto f = Client("app-2");
  ASSERT_TRUE(f->Send(1, Events(2, 3, /*with_kind=*/false)).ok());
  ASSERT_TRUE(f->Close().ok());
  Flush();
  ExpectExactly(0, 5);
  grpc::ClientContext ctx;
  v1::ReadBatchesRequest req;
  req.set_dataset("ev");
  req.add_columns("kind");
  auto reader = stub_->ReadBatches(&ctx, req);
  v1::Frame frame;
  int64_t missing = 0;
  while (reader->Read(&frame)) {
    for (int64_t i = 0; i < frame.num_rows(); ++i)
      missing += !table::ValidAt(frame.columns(0), i);
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(missing, 4);  // One JSON row without kind, three frame rows.
}

TEST_F(PushTest, ASecondStreamOfAProducerEndsTheFirst) {
  auto first = Client("app-1");
  ASSERT_TRUE(first->Send(1, Events(0, 5)).ok());
  ASSERT_TRUE(first->Flush().ok());
  auto second = Client("app-1");
  EXPECT_EQ(second->stats().resumed_after, 1);
  absl::Status s = first->Send(2, Events(5, 5));
  if (s.ok()) s = first->Flush();
  EXPECT_TRUE(absl::IsAborted(s)) << s;
  ASSERT_TRUE(second->Send(2, Events(5, 5)).ok());
  ASSERT_TRUE(second->Close().ok());
  Flush();
  ExpectExactly(0, 10);
}

TEST_F(PushTest, StreamsPastTheLimitAndUnknownDatasetsAreRefused) {
  Restart({.max_streams = 1});
  auto one = Client("app-1");
  auto two = PushClient::Open(server_->InProcessChannel(),
                              {.dataset = "ev",
                               .producer = "app-2",
                               .retry_for = std::chrono::milliseconds(200)});
  EXPECT_FALSE(two.ok());
  EXPECT_THAT(two.status().message(), HasSubstr("the limit"));
  auto none = PushClient::Open(server_->InProcessChannel(),
                               {.dataset = "nope", .producer = "app-3"});
  EXPECT_TRUE(absl::IsNotFound(none.status())) << none.status();
  EXPECT_THAT(none.status().message(), HasSubstr("create it with an upload"));
}

TEST_F(PushTest, AFullWindowWaitsForTheCommitThenGoesOn) {
  // One message in flight at a time (each is over the window): every one
  // still gets through, in order.
  Restart(
      {.commit_interval = std::chrono::milliseconds(20), .window_bytes = 1});
  auto c = Client("app-1");
  for (int64_t m = 1; m <= 20; ++m)
    ASSERT_TRUE(c->Send(m, Events((m - 1) * 3, 3)).ok());
  ASSERT_TRUE(c->Close().ok());
  EXPECT_EQ(c->acked(), 20);
  auto session = module_->pusher()->OpenSession(
      [] {
        v1::PushOpen o;
        o.set_dataset("ev");
        o.set_producer("app-2");
        return o;
      }(),
      {});
  ASSERT_TRUE(session.ok());
  bool duplicate;
  std::optional<PushAck> now;
  ASSERT_TRUE((*session)->Add(1, Events(1000, 3), &duplicate, &now).ok());
  EXPECT_TRUE((*session)->ShouldWait());  // Until its commit.
  for (int i = 0; i < 200 && (*session)->ShouldWait(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_FALSE((*session)->ShouldWait());
  Flush();
  auto seen = Amounts();
  EXPECT_EQ(seen.size(), 64u);  // -1, 0..59, 1000..1002.
}

// A pushed record is readable (WatchPushes: the online store) once in the
// log, without waiting for the sync its acknowledgement waits for.
TEST_F(PushTest, PushedRowsAreReadableBeforeTheirSyncEnds) {
  // The sync waits until the test has read the record (10 s at most).
  std::mutex mu;
  std::condition_variable cv;
  bool read = false;
  PushOptions push;
  push.TEST_before_sync = [&] {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return read; });
  };
  Restart(push);
  auto c = Client("app-1");
  ASSERT_TRUE(c->Send(1, Events(0, 5)).ok());
  v1::PushedRows rows;
  ASSERT_TRUE(module_->pusher()
                  ->ReadPushed("ev", 0, std::chrono::seconds(5), 1 << 20, &rows)
                  .ok());
  ASSERT_EQ(rows.records_size(), 1);  // While the sync waits.
  EXPECT_EQ(rows.records(0).frame().num_rows(), 5);
  EXPECT_EQ(c->acked(), 0);  // Not durable yet.
  {
    std::lock_guard lock(mu);
    read = true;
  }
  cv.notify_all();
  ASSERT_TRUE(c->Flush().ok());
  EXPECT_EQ(c->acked(), 1);
  ASSERT_TRUE(c->Close().ok());
}

// A start leaves a gap in the log positions (those reserved before it): a
// reader that was caught up is moved past it, and then waits for the next
// record instead of being answered at once, again and again.
TEST_F(PushTest, AReaderWaitsPastTheGapAStartLeaves) {
  auto c = Client("app-1");
  ASSERT_TRUE(c->Send(1, Events(0, 5)).ok());
  ASSERT_TRUE(c->Close().ok());
  v1::PushedRows rows;
  ASSERT_TRUE(module_->pusher()
                  ->ReadPushed("ev", 0, std::chrono::seconds(1), 1 << 20, &rows)
                  .ok());
  ASSERT_EQ(rows.records_size(), 1);
  Restart();
  int64_t after = rows.records(0).position();
  for (int call = 0; call < 2; ++call) {
    rows.Clear();
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(module_->pusher()
                    ->ReadPushed("ev", after, std::chrono::milliseconds(300),
                                 1 << 20, &rows)
                    .ok());
    EXPECT_EQ(rows.records_size(), 0);
    if (call == 1) {  // The first passed the gap; the second waited.
      EXPECT_GE(std::chrono::steady_clock::now() - start,
                std::chrono::milliseconds(250));
    }
    after = rows.next_after();
  }
  auto d = Client("app-2");
  ASSERT_TRUE(d->Send(1, Events(10, 3)).ok());
  ASSERT_TRUE(d->Close().ok());
  rows.Clear();
  ASSERT_TRUE(
      module_->pusher()
          ->ReadPushed("ev", after, std::chrono::seconds(1), 1 << 20, &rows)
          .ok());
  ASSERT_EQ(rows.records_size(), 1);
  EXPECT_EQ(rows.records(0).frame().num_rows(), 3);
}

// A machine crash may take the log's unsynced tail, which readers may have
// seen: its positions are never given to other records.
TEST_F(PushTest, APositionIsNeverGivenTwiceAfterTheLogLostItsTail) {
  auto positions = [&] {
    v1::PushedRows rows;
    EXPECT_TRUE(
        module_->pusher()
            ->ReadPushed("ev", 0, std::chrono::seconds(1), 1 << 20, &rows)
            .ok());
    std::vector<int64_t> out;
    for (const auto& r : rows.records()) out.push_back(r.position());
    return out;
  };
  auto c = Client("app-1");
  for (int64_t m = 1; m <= 3; ++m)
    ASSERT_TRUE(c->Send(m, Events(m * 10, 2)).ok());
  ASSERT_TRUE(c->Close().ok());
  const std::vector<int64_t> seen = positions();
  ASSERT_EQ(seen.size(), 3u);
  server_.reset();
  module_->Stop();
  module_.reset();
  // The tail lost: every segment of the push log.
  int removed = 0;
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (e.path().extension() == ".seg" &&
        e.path().parent_path().filename().string().find("push") !=
            std::string::npos) {
      std::filesystem::remove(e.path());
      ++removed;
    }
  }
  ASSERT_GT(removed, 0);
  Start();
  EXPECT_TRUE(positions().empty());
  auto d = Client("app-2");
  ASSERT_TRUE(d->Send(1, Events(100, 2)).ok());
  ASSERT_TRUE(d->Close().ok());
  const std::vector<int64_t> now = positions();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_GT(now[0], seen.back());
  // And the rows that were kept are compacted as ever.
  EXPECT_EQ(Flush().rows(), 2);
}

}  // namespace
}  // namespace mlpipe::ingest
