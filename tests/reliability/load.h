// What the reliability tests share: a credit request, callers predicting
// against a server until stopped (answers, failures and latencies), and a
// fixture with the credit example's model served.
#ifndef MLPIPE_TESTS_RELIABILITY_LOAD_H_
#define MLPIPE_TESTS_RELIABILITY_LOAD_H_

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/util/testing.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/score_service.pb.h"

namespace mlpipe::testing {

// One row of the credit example's raw fields.
v1::PredictRequest CreditRow();

// The q-quantile (0..1) of `v` in milliseconds; 0 when empty.
double QuantileMs(std::vector<double> v, double q);

// The last 4,000 bytes of a log, for failure messages.
std::string Tail(const std::string& log);

struct LoadOptions {
  int callers = 32;  // Threads, each on a connection of its own.
  // Pause after RESOURCE_EXHAUSTED (the backoff the refusal asks for).
  int refused_backoff_ms = 5;
};

// Callers predicting until stopped: the ids they were answered with, the
// codes of the calls that failed, and every call's latency.
class Load {
 public:
  explicit Load(const std::string& address, LoadOptions options = {});
  ~Load() { Stop(); }
  // Waits until the server answers (it loads its deployments first).
  bool Answering();
  void Stop();
  // Forgets what was measured so far (after a warm-up).
  void Reset();

  std::mutex mu;
  std::vector<std::string> ids;                      // GUARDED_BY(mu)
  std::map<grpc::StatusCode, int> failed;            // GUARDED_BY(mu)
  std::map<grpc::StatusCode, std::string> messages;  // The last of each.
  std::vector<double> answered_ms, refused_ms;       // GUARDED_BY(mu)

 private:
  void Call(const std::string& address, const LoadOptions& options, int caller);
  std::atomic<bool> stop_ = false;
  std::vector<std::thread> threads_;
};

// What calls kept in flight measured.
struct InFlightResult {
  std::vector<double> answered_ms, refused_ms;  // RESOURCE_EXHAUSTED: refused.
  std::map<grpc::StatusCode, int> failed;       // Other failures.
  std::string last_failure;
};

// Keeps `calls` Predict calls always in flight (an asynchronous client on
// two threads, so the client spends little CPU per call) for `seconds`
// after `warmup_seconds`; a refused call is sent again after
// `refused_backoff_ms`. Each call carries `rows` rows.
InFlightResult KeepInFlight(const std::string& address, int calls,
                            double seconds, double warmup_seconds = 0.5,
                            int refused_backoff_ms = 2, int rows = 1);

// The ids of `ids` the monitor at `address` has no logged prediction for
// (after waiting up to `seconds` for the prediction log to be shipped).
std::set<std::string> Unknown(const std::string& address,
                              const std::vector<std::string>& ids,
                              int seconds = 20);

// A data directory where the credit example's pipeline ran (its best model
// served as credit@production); each test starts its own servers on it.
class ServedModelTest : public ::testing::Test {
 protected:
  void SetUp() override;
  TempDir dir_;
  const std::string data_ = dir_.path() + "/data";
};

}  // namespace mlpipe::testing

#endif  // MLPIPE_TESTS_RELIABILITY_LOAD_H_
