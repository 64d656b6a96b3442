#include "common/ops/operation_manager.h"

#include <thread>

#include "common/ops/operations_service.h"
#include "common/rpc/server.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/wrappers.pb.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"

namespace mlpipe::ops {
namespace {

using google::protobuf::Any;
using google::protobuf::StringValue;
using ::testing::HasSubstr;

storage::Options StoreOptions() {
  storage::Options o;
  o.column_families = {{.name = kOperationsColumnFamily}};
  return o;
}

StringValue Str(const std::string& s) {
  StringValue v;
  v.set_value(s);
  return v;
}

std::string Unpacked(const Any& any) {
  StringValue v;
  any.UnpackTo(&v);
  return v.value();
}

// "echo": returns its request upper-cased after reporting progress.
// "fail": fails with the request as message. "block": runs until cancelled.
void RegisterKinds(OperationManager* m, std::atomic<int>* runs) {
  m->Register("echo",
              [runs](const Any& req, Progress& p) -> absl::StatusOr<Any> {
                ++*runs;
                p.Update(1, 2, "half way");
                std::string s = Unpacked(req);
                for (auto& c : s) c = static_cast<char>(std::toupper(c));
                Any out;
                out.PackFrom(Str(s));
                return out;
              });
  m->Register("fail", [](const Any& req, Progress&) -> absl::StatusOr<Any> {
    return absl::FailedPreconditionError(Unpacked(req));
  });
  m->Register("block", [runs](const Any&, Progress& p) -> absl::StatusOr<Any> {
    ++*runs;
    while (!p.Cancelled())
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return absl::CancelledError("stopped");
  });
}

TEST(OperationManagerTest, RunsWorkAndRecordsTheResult) {
  testing::TempDir dir;
  auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
  ASSERT_TRUE(store.ok());
  std::atomic<int> runs = 0;
  OperationManager m({.service = "prep"}, store->get());
  RegisterKinds(&m, &runs);
  ASSERT_TRUE(m.Resume().ok());
  auto op = m.Start("echo", Str("abc"));
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_THAT(op->id(), ::testing::StartsWith("prep-op-"));
  EXPECT_EQ(op->kind(), "echo");
  auto done = m.Wait(op->id(), absl::Seconds(10));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(Unpacked(done->result()), "ABC");
  EXPECT_EQ(done->progress().fraction(), 1.0);
  EXPECT_GT(done->revision(), op->revision());

  auto failed =
      m.Wait(m.Start("fail", Str("no rows"))->id(), absl::Seconds(10));
  EXPECT_EQ(failed->state(), v1::Operation::FAILED);
  EXPECT_EQ(failed->error().code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(failed->error().message(), "no rows");

  auto list = m.List("", 0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].kind(), "fail");  // Newest first.
  EXPECT_EQ(m.List("echo", 0)->size(), 1u);
  EXPECT_TRUE(absl::IsNotFound(m.Get("prep-op-nope").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(m.Start("nope", Str("")).status()));
}

TEST(OperationManagerTest, IdempotencyKeyReturnsTheFirstOperation) {
  testing::TempDir dir;
  auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
  std::atomic<int> runs = 0;
  OperationManager m({.service = "prep"}, store->get());
  RegisterKinds(&m, &runs);
  ASSERT_TRUE(m.Resume().ok());
  auto a = m.Start("echo", Str("x"), "key-1");
  ASSERT_TRUE(m.Wait(a->id(), absl::Seconds(10)).ok());
  auto b = m.Start("echo", Str("x"), "key-1");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(a->id(), b->id());
  EXPECT_EQ(b->state(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(runs, 1);
  EXPECT_NE(m.Start("echo", Str("x"), "key-2")->id(), a->id());
}

TEST(OperationManagerTest, CancelStopsRunningAndPendingWork) {
  testing::TempDir dir;
  auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
  std::atomic<int> runs = 0;
  OperationManager m({.service = "prep", .workers = 1}, store->get());
  RegisterKinds(&m, &runs);
  ASSERT_TRUE(m.Resume().ok());
  auto running = m.Start("block", Str(""));
  auto pending = m.Start("echo", Str("later"));
  while (m.Get(running->id())->state() != v1::Operation::RUNNING)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto p = m.Cancel(pending->id());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->state(), v1::Operation::CANCELLED);
  ASSERT_TRUE(m.Cancel(running->id()).ok());
  auto r = m.Wait(running->id(), absl::Seconds(10));
  EXPECT_EQ(r->state(), v1::Operation::CANCELLED);
  EXPECT_EQ(m.Get(pending->id())->state(), v1::Operation::CANCELLED);
  EXPECT_EQ(runs, 1);  // The pending echo never ran.
}

TEST(OperationManagerTest, WorkInterruptedByShutdownRunsAgainAfterRestart) {
  testing::TempDir dir;
  std::string id;
  {
    auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
    std::atomic<int> runs = 0;
    OperationManager m({.service = "prep", .workers = 1}, store->get());
    RegisterKinds(&m, &runs);
    ASSERT_TRUE(m.Resume().ok());
    id = m.Start("block", Str(""))->id();
    while (runs == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    m.Stop();
  }
  auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
  std::atomic<int> runs = 0;
  OperationManager m({.service = "prep", .workers = 1}, store->get());
  RegisterKinds(&m, &runs);
  ASSERT_EQ(m.Get(id)->state(), v1::Operation::RUNNING);  // As left.
  ASSERT_TRUE(m.Resume().ok());
  while (runs == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(m.Cancel(id).ok());
  EXPECT_EQ(m.Wait(id, absl::Seconds(10))->state(), v1::Operation::CANCELLED);
}

TEST(OperationsServiceTest, WatchStreamsChangesUntilTheEnd) {
  testing::TempDir dir;
  auto store = storage::OpenRocksStore(dir.path(), StoreOptions());
  std::atomic<int> runs = 0;
  OperationManager m({.service = "prep", .workers = 1}, store->get());
  RegisterKinds(&m, &runs);
  ASSERT_TRUE(m.Resume().ok());
  OperationsService service;
  service.AddManager(&m);
  rpc::ServerOptions opts;
  opts.listen_address = "127.0.0.1:0";
  auto server = rpc::Server::Start(opts, {&service});
  ASSERT_TRUE(server.ok());
  auto stub = v1::Operations::NewStub((*server)->InProcessChannel());

  auto blocker = m.Start("block", Str(""));
  auto op = m.Start("echo", Str("go"));
  grpc::ClientContext ctx;
  v1::GetOperationRequest req;
  req.set_id(op->id());
  auto reader = stub->WatchOperation(&ctx, req);
  v1::Operation seen;
  ASSERT_TRUE(reader->Read(&seen));
  EXPECT_EQ(seen.state(), v1::Operation::PENDING);
  {
    grpc::ClientContext c;
    v1::CancelOperationRequest cr;
    cr.set_id(blocker->id());
    v1::Operation out;
    ASSERT_TRUE(stub->CancelOperation(&c, cr, &out).ok());
  }
  std::vector<v1::Operation::State> states;
  while (reader->Read(&seen)) states.push_back(seen.state());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), v1::Operation::SUCCEEDED);
  EXPECT_EQ(Unpacked(seen.result()), "GO");

  grpc::ClientContext c2;
  v1::GetOperationRequest missing;
  missing.set_id("train-op-1");
  v1::Operation out;
  auto s = stub->GetOperation(&c2, missing, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::ClientContext c3;
  v1::ListOperationsRequest lr;
  v1::ListOperationsResponse list;
  ASSERT_TRUE(stub->ListOperations(&c3, lr, &list).ok());
  EXPECT_EQ(list.operations_size(), 2);
}

}  // namespace
}  // namespace mlpipe::ops
