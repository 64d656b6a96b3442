#include "common/events/event_log.h"

#include <thread>

#include "common/events/events_service.h"
#include "common/rpc/server.h"
#include "common/util/testing.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"

namespace mlpipe::events {
namespace {

storage::Options StoreOptions() {
  storage::Options o;
  o.column_families = {{.name = kEventsColumnFamily}, {.name = "state"}};
  return o;
}

TEST(EventLogTest, EventIsWrittenAtomicallyWithTheStateChange) {
  testing::TempDir dir;
  auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
  ASSERT_TRUE(store.ok());
  auto log = EventLog::Open(store->get(), "ingest");
  ASSERT_TRUE(log.ok());
  storage::WriteBatch b;
  b.Put("state", "dataset/x", "v1");
  ASSERT_TRUE((*log)
                  ->Commit(std::move(b), {EventLog::Make("dataset.ingested",
                                                         {{"dataset", "x"}})})
                  .ok());
  EXPECT_EQ(*(*store)->Get("state", "dataset/x"), "v1");
  uint64_t next;
  auto events = (*log)->Read(1, {}, 10, &next);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].sequence(), 1u);
  EXPECT_EQ((*events)[0].source(), "ingest");
  EXPECT_EQ((*events)[0].attributes().at("dataset"), "x");
  EXPECT_EQ(next, 2u);
}

TEST(EventLogTest, CursorResumesAfterReopenAndTopicsFilter) {
  testing::TempDir dir;
  {
    auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
    auto log = EventLog::Open(store->get(), "ingest");
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE((*log)
                      ->Commit({}, {EventLog::Make(i % 2 ? "b" : "a",
                                                   {{"i", std::to_string(i)}})})
                      .ok());
    }
  }
  auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
  auto log = EventLog::Open(store->get(), "ingest");
  ASSERT_TRUE(log.ok());
  EXPECT_EQ((*log)->last_sequence(), 5u);
  // A subscriber that handled events up to 2 resumes from 3.
  uint64_t next;
  auto rest = (*log)->Read(3, {}, 10, &next);
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[0].attributes().at("i"), "2");
  auto only_a = (*log)->Read(1, {"a"}, 10, &next);
  ASSERT_EQ(only_a->size(), 3u);
  EXPECT_EQ(next, 6u);
  // New events continue the sequence after the reopen.
  ASSERT_TRUE((*log)->Commit({}, {EventLog::Make("a", {})}).ok());
  EXPECT_EQ((*log)->last_sequence(), 6u);
}

TEST(EventsServiceTest, SubscribeStreamsBacklogThenFollowsNewCommits) {
  testing::TempDir dir;
  auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
  auto log = EventLog::Open(store->get(), "ingest");
  ASSERT_TRUE((*log)->Commit({}, {EventLog::Make("old", {})}).ok());
  EventsService service;
  service.AddLog(log->get());
  rpc::ServerOptions opts;
  opts.listen_address = "127.0.0.1:0";
  auto server = rpc::Server::Start(opts, {&service});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::Events::NewStub((*server)->InProcessChannel());

  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.set_source("ingest");
  req.set_from_sequence(1);
  req.set_follow(true);
  auto reader = stub->Subscribe(&ctx, req);
  v1::Event e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.topic(), "old");
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE((*log)->Commit({}, {EventLog::Make("new", {})}).ok());
  });
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.topic(), "new");
  EXPECT_EQ(e.sequence(), 2u);
  producer.join();
  ctx.TryCancel();
  while (reader->Read(&e)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST(EventsServiceTest, UnknownSourceIsInvalidArgument) {
  EventsService service;
  rpc::ServerOptions opts;
  opts.listen_address = "127.0.0.1:0";
  auto server = rpc::Server::Start(opts, {&service});
  auto stub = v1::Events::NewStub((*server)->InProcessChannel());
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.set_source("nope");
  auto reader = stub->Subscribe(&ctx, req);
  v1::Event e;
  EXPECT_FALSE(reader->Read(&e));
  auto s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("source"), std::string::npos);
}

}  // namespace
}  // namespace mlpipe::events
