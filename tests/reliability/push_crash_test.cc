// kill -9 of the ingestion server, 20 times, while four producers push rows
// through Ingestion/Push and retry (clients/push_client.h): every row each
// producer sent (and so had acknowledged in the end) is in the dataset
// exactly once, none lost, none duplicated; compactions run every second,
// so some kills land in the middle of one.
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "clients/push_client.h"
#include "common/table/frame_codec.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

constexpr int kProducers = 4;
constexpr int kRowsPerMessage = 200;
constexpr int kKills = 20;

// Rows of message `seq` of producer `p`: id = p * 1e9 + seq * 1e3 + row.
v1::Frame Rows(int p, int64_t seq) {
  table::Table t;
  t.num_rows = kRowsPerMessage;
  table::Column id, who;
  id.name = "id";
  id.type = table::ColumnType::kNumeric;
  who.name = "producer";
  who.type = table::ColumnType::kCategorical;
  for (int r = 0; r < kRowsPerMessage; ++r) {
    id.numbers.push_back(p * 1e9 + static_cast<double>(seq) * 1e3 + r);
    id.valid.PushBack(true);
    who.strings.push_back("p" + std::to_string(p));
    who.valid.PushBack(true);
  }
  t.columns.push_back(std::move(id));
  t.columns.push_back(std::move(who));
  v1::Frame f;
  table::TableToFrame(t, &f);
  f.set_num_rows(kRowsPerMessage);
  return f;
}

std::shared_ptr<grpc::Channel> Channel(int port, int i) {
  grpc::ChannelArguments args;
  args.SetInt("test.channel", i);
  // Back at once after each restart (gRPC's default waits up to 120 s).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                   grpc::InsecureChannelCredentials(), args);
}

TEST(PushCrashTest, KillNineTwentyTimesWhileProducersPushStoresEachRowOnce) {
  TempDir dir;
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> flags = {"--push_compact_seconds=1"};
  auto server = std::make_unique<Standalone>(data, flags, "mlpipe-ingest");
  const int port = server->grpc_port();
  {
    std::ofstream seed(dir.path() + "/seed.csv");
    seed << "id,producer\n-1,seed\n";
  }
  auto r = server->Cli(
      {"ingest", "--dataset", "ev", "--file", dir.path() + "/seed.csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  std::atomic<bool> killing{true};
  std::atomic<int> failures{0};
  std::vector<int64_t> sent(kProducers, 0);
  std::vector<ingest::PushClient::Stats> stats(kProducers);
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      auto client = ingest::PushClient::Open(
          Channel(port, p), {.dataset = "ev",
                             .producer = "p" + std::to_string(p),
                             .retry_for = std::chrono::seconds(120)});
      if (!client.ok()) {
        ADD_FAILURE() << "open: " << client.status();
        ++failures;
        return;
      }
      // Until the kills are over, and at least 200 messages.
      int64_t seq = 1;
      for (; killing || seq <= 200; ++seq) {
        auto s = (*client)->Send(seq, Rows(p, seq));
        if (!s.ok()) {
          ADD_FAILURE() << "producer " << p << " seq " << seq << ": " << s;
          ++failures;
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      sent[p] = seq - 1;
      if (auto s = (*client)->Close(); !s.ok()) {
        ADD_FAILURE() << "close: " << s;
        ++failures;
      }
      stats[p] = (*client)->stats();
    });
  }
  std::mt19937 rng(7);
  for (int k = 0; k < kKills; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(300, 800)(rng)));
    server->Crash();
    std::vector<std::string> again = flags;
    again.push_back("--grpc_port=" + std::to_string(port));
    server = std::make_unique<Standalone>(data, again, "mlpipe-ingest");
  }
  killing = false;
  for (auto& t : producers) t.join();
  ASSERT_EQ(failures, 0);

  auto stub = v1::Ingestion::NewStub(Channel(port, 99));
  {
    grpc::ClientContext ctx;
    v1::FlushPushesRequest req;
    v1::FlushPushesResponse resp;
    req.set_dataset("ev");
    auto s = stub->FlushPushes(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  std::map<double, int> seen;
  {
    grpc::ClientContext ctx;
    v1::ReadBatchesRequest req;
    req.set_dataset("ev");
    req.add_columns("id");
    auto reader = stub->ReadBatches(&ctx, req);
    v1::Frame f;
    while (reader->Read(&f)) {
      for (int64_t i = 0; i < f.num_rows(); ++i)
        ++seen[table::NumberAt(f.columns(0), i)];
    }
    ASSERT_TRUE(reader->Finish().ok());
  }
  int64_t expected = 1, missing = 0, twice = 0, reconnects = 0, dups = 0;
  for (int p = 0; p < kProducers; ++p) {
    EXPECT_EQ(stats[p].acked, sent[p]) << "producer " << p;
    reconnects += stats[p].reconnects;
    dups += stats[p].duplicates;
    for (int64_t seq = 1; seq <= sent[p]; ++seq) {
      for (int row = 0; row < kRowsPerMessage; ++row) {
        const int n = seen[p * 1e9 + static_cast<double>(seq) * 1e3 + row];
        missing += n == 0;
        twice += n > 1;
        ++expected;
      }
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(twice, 0);
  EXPECT_EQ(static_cast<int64_t>(seen.size()), expected);  // Nothing else.
  std::cout << "pushed " << expected - 1 << " rows in "
            << sent[0] + sent[1] + sent[2] + sent[3] << " messages through "
            << kKills << " kills: " << missing << " missing, " << twice
            << " stored twice; producers reconnected " << reconnects
            << " times and were told of " << dups
            << " messages stored before\n";
}

}  // namespace
}  // namespace mlpipe::testing
