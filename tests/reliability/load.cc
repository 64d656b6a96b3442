#include "tests/reliability/load.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "grpcpp/alarm.h"
#include "mlpipe/v1/monitor_service.grpc.pb.h"
#include "mlpipe/v1/score_service.grpc.pb.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {

v1::PredictRequest CreditRow() {
  v1::PredictRequest req;
  auto& f = *req.add_rows()->mutable_fields();
  for (auto [k, v] : std::map<std::string, double>{{"Seniority", 9},
                                                   {"Time", 60},
                                                   {"Age", 30},
                                                   {"Expenses", 73},
                                                   {"Income", 129},
                                                   {"Assets", 0},
                                                   {"Debt", 0},
                                                   {"Amount", 800},
                                                   {"Price", 846}})
    f[k].set_number_value(v);
  for (auto [k, v] : std::map<std::string, std::string>{{"Home", "rent"},
                                                        {"Marital", "married"},
                                                        {"Records", "no"},
                                                        {"Job", "freelance"}})
    f[k].set_string_value(v);
  return req;
}

double QuantileMs(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const auto rank = static_cast<size_t>(std::ceil(q * v.size()));
  const size_t k = std::min(v.size(), std::max<size_t>(rank, 1)) - 1;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
  return v[k];
}

std::string Tail(const std::string& log) {
  return log.size() > 4000 ? log.substr(log.size() - 4000) : log;
}

Load::Load(const std::string& address, LoadOptions options) {
  for (int i = 0; i < options.callers; ++i) {
    threads_.emplace_back(
        [this, address, options, i] { Call(address, options, i); });
  }
}

void Load::Call(const std::string& address, const LoadOptions& options,
                int caller) {
  grpc::ChannelArguments args;
  args.SetInt("caller", caller);  // A connection of its own.
  auto stub = v1::Scoring::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
  const v1::PredictRequest req = CreditRow();
  while (!stop_) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    v1::PredictResponse resp;
    const auto start = std::chrono::steady_clock::now();
    grpc::Status s = stub->Predict(&ctx, req, &resp);
    const double ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - start)
                          .count();
    int pause_ms = 0;
    {
      std::lock_guard lock(mu);
      if (s.ok()) {
        answered_ms.push_back(ms);
        for (const auto& p : resp.predictions())
          ids.push_back(p.prediction_id());
      } else {
        ++failed[s.error_code()];
        messages[s.error_code()] = s.error_message();
        if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          refused_ms.push_back(ms);
          pause_ms = options.refused_backoff_ms;
        } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
          pause_ms = 20;
        }
      }
    }
    if (pause_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
  }
}

bool Load::Answering() {
  for (int i = 0; i < 300; ++i) {
    {
      std::lock_guard lock(mu);
      if (!ids.empty()) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

void Load::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void Load::Reset() {
  std::lock_guard lock(mu);
  ids.clear();
  failed.clear();
  messages.clear();
  answered_ms.clear();
  refused_ms.clear();
}

namespace {

// One call of KeepInFlight, or its backoff after a refusal.
struct InFlightCall {
  std::unique_ptr<grpc::ClientContext> ctx;
  v1::PredictResponse resp;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<v1::PredictResponse>> rpc;
  std::chrono::steady_clock::time_point start;
  grpc::Alarm backoff;
  bool backing_off = false;
};

}  // namespace

InFlightResult KeepInFlight(const std::string& address, int calls,
                            double seconds, double warmup_seconds,
                            int refused_backoff_ms, int rows) {
  using Clock = std::chrono::steady_clock;
  v1::PredictRequest req = CreditRow();
  for (int r = 1; r < rows; ++r) *req.add_rows() = req.rows(0);
  const auto measure_from =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(warmup_seconds));
  const auto end = measure_from + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  InFlightResult result;
  std::mutex mu;
  constexpr int kLoops = 2;
  std::vector<std::thread> threads;
  for (int l = 0; l < kLoops; ++l) {
    threads.emplace_back([&, l] {
      grpc::ChannelArguments args;
      args.SetInt("loop", l);  // A connection of its own.
      auto stub = v1::Scoring::NewStub(grpc::CreateCustomChannel(
          address, grpc::InsecureChannelCredentials(), args));
      grpc::CompletionQueue cq;
      auto start = [&](InFlightCall* c) {
        c->backing_off = false;
        c->ctx = std::make_unique<grpc::ClientContext>();
        c->ctx->set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        c->start = Clock::now();
        c->rpc = stub->PrepareAsyncPredict(c->ctx.get(), req, &cq);
        c->rpc->StartCall();
        c->rpc->Finish(&c->resp, &c->status, c);
      };
      int inflight = 0;
      std::vector<std::unique_ptr<InFlightCall>> own;
      for (int c = l; c < calls; c += kLoops, ++inflight) {
        own.push_back(std::make_unique<InFlightCall>());
        start(own.back().get());
      }
      void* tag;
      bool ok;
      while (inflight > 0 && cq.Next(&tag, &ok)) {
        auto* c = static_cast<InFlightCall*>(tag);
        const auto now = Clock::now();
        const bool over = now >= end;
        if (c->backing_off) {
          if (over)
            --inflight;
          else
            start(c);
          continue;
        }
        const bool refused =
            c->status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
        if (c->start >= measure_from && now < end) {
          const double ms =
              std::chrono::duration<double, std::milli>(now - c->start).count();
          std::lock_guard lock(mu);
          if (c->status.ok()) {
            result.answered_ms.push_back(ms);
          } else if (refused) {
            result.refused_ms.push_back(ms);
          } else {
            ++result.failed[c->status.error_code()];
            result.last_failure = c->status.error_message();
          }
        }
        if (over) {
          --inflight;
        } else if (refused) {
          c->backing_off = true;
          c->backoff.Set(&cq,
                         std::chrono::system_clock::now() +
                             std::chrono::milliseconds(refused_backoff_ms),
                         c);
        } else {
          start(c);
        }
      }
      cq.Shutdown();
      while (cq.Next(&tag, &ok)) {
      }
    });
  }
  for (auto& t : threads) t.join();
  return result;
}

namespace {

// Adds to `out` the ids of `ids` the monitor has no logged prediction for.
// Sending an actual records it (sent again it is a duplicate, not
// unmatched), so a batch with unmatched ones is halved until they are found.
void FindUnmatched(v1::Monitor::Stub* stub, const std::vector<std::string>& ids,
                   std::set<std::string>* out) {
  if (ids.empty()) return;
  v1::RecordActualsRequest req;
  for (const auto& id : ids) {
    auto* a = req.add_actuals();
    a->set_prediction_id(id);
    a->mutable_value()->set_string_value("good");
  }
  grpc::ClientContext ctx;
  v1::ActualsResult result;
  if (!stub->RecordActuals(&ctx, req, &result).ok()) {
    out->insert(ids.begin(), ids.end());  // Unknown as far as we can tell.
    return;
  }
  if (result.unmatched() == 0) return;
  if (ids.size() == 1) {
    out->insert(ids[0]);
    return;
  }
  const auto mid = ids.begin() + static_cast<long>(ids.size() / 2);
  FindUnmatched(stub, {ids.begin(), mid}, out);
  FindUnmatched(stub, {mid, ids.end()}, out);
}

}  // namespace

// Ids the monitor does not know (after waiting up to `seconds` for the
// prediction log to be shipped).
std::set<std::string> Unknown(const std::string& address,
                              const std::vector<std::string>& ids,
                              int seconds) {
  auto stub = v1::Monitor::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  std::set<std::string> left(ids.begin(), ids.end());
  for (int attempt = 0; attempt < seconds * 4 && !left.empty(); ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
    std::vector<std::string> batch(left.begin(), left.end());
    std::set<std::string> still;
    for (size_t b = 0; b < batch.size(); b += 5000) {
      FindUnmatched(
          stub.get(),
          {batch.begin() + static_cast<long>(b),
           batch.begin() + static_cast<long>(std::min(batch.size(), b + 5000))},
          &still);
    }
    left = std::move(still);
  }
  return left;
}

void ServedModelTest::SetUp() {
  Standalone first(data_);
  auto r = first.Cli(
      {"run", SourcePath("examples/credit/pipeline.yaml"), "--watch"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(first.Stop(), 0);
}

}  // namespace mlpipe::testing
