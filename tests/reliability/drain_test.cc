// The standalone under load: SIGTERM drains (exit 0, no call in flight
// fails, new calls are refused as UNAVAILABLE) and SIGKILL loses no
// prediction acknowledged to a caller (each is joinable to an actual after
// the restart).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "tests/integration/harness.h"
#include "tests/reliability/load.h"

namespace mlpipe::testing {
namespace {

class ReliabilityTest : public ServedModelTest {
 protected:
  // After a restart, the monitor knows every acknowledged prediction.
  void ExpectNoneLost(const std::vector<std::string>& acknowledged) {
    Standalone after(data_);
    const auto lost = Unknown(after.address(), acknowledged);
    EXPECT_EQ(lost.size(), 0u)
        << "of " << acknowledged.size() << " acknowledged predictions, lost: "
        << (lost.empty() ? "" : *lost.begin()) << " ...";
  }
};

TEST_F(ReliabilityTest, SigtermUnderLoadDrainsAndLosesNothing) {
  std::vector<std::string> acknowledged;
  int cancelled = 0;
  constexpr int kCycles = 10;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    SCOPED_TRACE(cycle);
    Standalone server(data_);
    Load load(server.address());
    ASSERT_TRUE(load.Answering());
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    const int code = server.Stop();  // SIGTERM under load.
    load.Stop();
    EXPECT_EQ(code, 0) << Tail(ReadFile(server.log_file()));
    for (const auto& [code, n] : load.failed) {
      // Calls after the server stopped taking them: UNAVAILABLE, or
      // CANCELLED for those that reached it in the instant between gRPC's
      // shutdown and its GOAWAY reaching the client (gRPC core kills calls
      // that arrive once shutdown began, before any handler sees them:
      // never started, never acknowledged). Nothing else.
      EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE ||
                  code == grpc::StatusCode::CANCELLED)
          << n << " calls: " << code << " " << load.messages[code];
      if (code == grpc::StatusCode::CANCELLED) cancelled += n;
    }
    EXPECT_GT(load.ids.size(), 100u);
    acknowledged.insert(acknowledged.end(), load.ids.begin(), load.ids.end());
  }
  std::cerr << "drain: " << acknowledged.size()
            << " predictions acknowledged over " << kCycles << " SIGTERMs, "
            << cancelled << " calls cancelled unanswered\n";
  ExpectNoneLost(acknowledged);
}

TEST_F(ReliabilityTest, KillNineLosesNoAcknowledgedPrediction) {
  std::vector<std::string> acknowledged;
  for (int cycle = 0; cycle < 5; ++cycle) {
    SCOPED_TRACE(cycle);
    Standalone server(data_);
    Load load(server.address());
    ASSERT_TRUE(load.Answering());
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + 97 * cycle));
    server.Crash();  // SIGKILL mid-load.
    load.Stop();
    EXPECT_GT(load.ids.size(), 50u);
    acknowledged.insert(acknowledged.end(), load.ids.begin(), load.ids.end());
  }
  std::cerr << "kill -9: " << acknowledged.size()
            << " predictions acknowledged over 5 kills\n";
  ExpectNoneLost(acknowledged);
}

}  // namespace
}  // namespace mlpipe::testing
