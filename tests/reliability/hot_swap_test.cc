// Hot swap: 100 route changes (credit:1 <-> credit:2) while 16 callers
// predict: no request fails, each is answered by one of the two versions,
// and the route's history has every revision.
#include <atomic>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "tests/integration/harness.h"
#include "tests/reliability/load.h"

namespace mlpipe::testing {
namespace {

grpc::Status Deploy(v1::Scoring::Stub* stub, const std::string& version) {
  v1::DeployRequest req;
  req.set_model_version(version);
  req.set_set_by("user:test");
  grpc::ClientContext ctx;
  v1::DeployResponse out;
  return stub->Deploy(&ctx, req, &out);
}

class HotSwapTest : public ServedModelTest {};

TEST_F(HotSwapTest, HundredRouteChangesUnderLoadFailNoRequest) {
  Standalone server(data_);
  auto stub = v1::Scoring::NewStub(grpc::CreateChannel(
      server.address(), grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(Deploy(stub.get(), "credit:1").ok());
  std::atomic<bool> stop = false;
  std::atomic<int> answered = 0, failed = 0;
  std::mutex mu;
  std::set<std::string> versions;
  std::string error;
  std::vector<std::thread> callers;
  for (int c = 0; c < 16; ++c) {
    callers.emplace_back([&, c] {
      grpc::ChannelArguments args;
      args.SetInt("caller", c);  // A connection of its own.
      auto own = v1::Scoring::NewStub(grpc::CreateCustomChannel(
          server.address(), grpc::InsecureChannelCredentials(), args));
      const v1::PredictRequest req = CreditRow();
      while (!stop) {
        grpc::ClientContext ctx;
        v1::PredictResponse resp;
        grpc::Status s = own->Predict(&ctx, req, &resp);
        std::lock_guard lock(mu);
        if (!s.ok()) {
          ++failed;
          error = s.error_message();
          continue;
        }
        ++answered;
        versions.insert(resp.model_version());
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    grpc::Status s = Deploy(stub.get(), i % 2 ? "credit:1" : "credit:2");
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  stop = true;
  for (auto& t : callers) t.join();
  std::cerr << "hot swap: 100 route changes, " << answered << " answered, "
            << failed << " failed\n";
  EXPECT_EQ(failed, 0) << error;
  EXPECT_GT(answered, 100);
  EXPECT_EQ(versions, (std::set<std::string>{"credit:1", "credit:2"}));
  auto history = server.Cli({"deployments", "history"});
  EXPECT_THAT(history.out, ::testing::HasSubstr("101 "));  // 101 revisions.
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace mlpipe::testing
