#include "services/host/module.h"

#include <atomic>
#include <string>
#include <vector>

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "gtest/gtest.h"
#include "services/host/flags.h"

namespace mlpipe::host {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Records, in one list, when its parts go.
struct Part {
  Part(std::string name, std::vector<std::string>* gone)
      : name(std::move(name)), gone(gone) {}
  ~Part() { gone->push_back(name); }
  std::string name;
  std::vector<std::string>* gone;
};

// A module with two parts, an operation that doubles a number and a loop.
class TestModule final : public Module {
 public:
  static std::unique_ptr<TestModule> Open(const std::string& dir,
                                          std::vector<std::string>* gone) {
    std::unique_ptr<TestModule> m(new TestModule(dir));
    EXPECT_TRUE(m->OpenStore({}).ok());
    m->Make<Part>("first", gone);
    m->Make<Part>("second", gone);
    m->RegisterOperation<google::protobuf::DoubleValue,
                         google::protobuf::DoubleValue>(
        "double", [](const google::protobuf::DoubleValue& in, ops::Progress&) {
          google::protobuf::DoubleValue out;
          out.set_value(in.value() * 2);
          return absl::StatusOr<google::protobuf::DoubleValue>(out);
        });
    m->loop_ = m->AddLoop([m = m.get()](util::BackgroundLoop& loop) {
      do {
        ++m->rounds_;
      } while (loop.Wait(std::chrono::milliseconds(1)));
    });
    return m;
  }
  ~TestModule() override { Stop(); }

  std::atomic<int> rounds_{0};
  util::BackgroundLoop* loop_ = nullptr;
  using Module::ops;
  using Module::Peer;

 private:
  explicit TestModule(const std::string& dir) : Module("test", dir) {}
};

TEST(FlagsTest, OnlyLoopbackAddressesAreLoopback) {
  for (const char* host :
       {"127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"}) {
    EXPECT_TRUE(IsLoopback(host)) << host;
  }
  for (const char* host :
       {"0.0.0.0", "::", "[::]", "10.0.0.1", "128.0.0.1", "127.evil.example",
        "127.0.0.1.evil.example", "localhost.evil.example", "", "[::1",
        "::ffff:10.0.0.1", "1.127.0.0"}) {
    EXPECT_FALSE(IsLoopback(host)) << host;
  }
}

TEST(ModuleTest, OperationsRunTypedAndAnUnreadableRequestIsDataLoss) {
  testing::TempDir dir;
  std::vector<std::string> gone;
  auto m = TestModule::Open(dir.path(), &gone);
  ASSERT_TRUE(m->Start(nullptr).ok());
  google::protobuf::DoubleValue two;
  two.set_value(2);
  auto op = m->ops()->Start("double", two);
  ASSERT_TRUE(op.ok()) << op.status();
  auto done = m->ops()->Wait(op->id(), absl::Seconds(10));
  ASSERT_TRUE(done.ok());
  google::protobuf::DoubleValue four;
  ASSERT_TRUE(done->result().UnpackTo(&four)) << done->DebugString();
  EXPECT_EQ(four.value(), 4);

  // A request of another type (as a corrupt or foreign stored one reads).
  google::protobuf::StringValue text;
  text.set_value("two");
  auto bad = m->ops()->Start("double", text);
  ASSERT_TRUE(bad.ok());
  auto failed = m->ops()->Wait(bad->id(), absl::Seconds(10));
  ASSERT_TRUE(failed.ok());
  EXPECT_EQ(failed->error().code(),
            static_cast<int>(absl::StatusCode::kDataLoss))
      << failed->DebugString();
  EXPECT_THAT(failed->error().message(),
              HasSubstr("the stored double request is unreadable"));
}

TEST(ModuleTest, LoopsRunFromStartToStopAndPartsGoInReverseOrder) {
  testing::TempDir dir;
  std::vector<std::string> gone;
  auto m = TestModule::Open(dir.path(), &gone);
  EXPECT_EQ(m->rounds_, 0);  // Not before Start.
  ASSERT_TRUE(m->Start(nullptr).ok());
  while (m->rounds_ < 3) absl::SleepFor(absl::Milliseconds(1));
  m->Stop();
  EXPECT_TRUE(m->loop_->stopping());
  const int after = m->rounds_;
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(m->rounds_, after);  // The loop has returned.
  m.reset();
  EXPECT_THAT(gone, ElementsAre("second", "first"));
}

TEST(ModuleTest, PeersWithoutAnAddressAreThisProcess) {
  testing::TempDir dir;
  auto peers = std::make_shared<rpc::Peers>(std::map<std::string, std::string>{
      {"ingest", "127.0.0.1:1"}, {"prep", ""}});
  EXPECT_FALSE(peers->IsLocal("ingest"));
  EXPECT_TRUE(peers->IsLocal("prep"));
  EXPECT_TRUE(peers->IsLocal("split"));
  EXPECT_EQ(peers->Channel("prep"), nullptr);  // Before the host serves.
  auto remote = peers->Channel("ingest");
  EXPECT_NE(remote, nullptr);
  EXPECT_EQ(peers->Channel("ingest"), remote);  // Made once.
}

}  // namespace
}  // namespace mlpipe::host
