#include "common/rpc/rpc_metrics.h"

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics/metrics.h"

namespace mlpipe::rpc {
namespace {

struct RpcFamilies {
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& latency;
};

RpcFamilies& Rpc() {
  static RpcFamilies* f = new RpcFamilies{
      prometheus::BuildCounter()
          .Name("mlpipe_rpc_requests_total")
          .Help("gRPC requests handled, by method and status code.")
          .Register(metrics::Registry()),
      prometheus::BuildHistogram()
          .Name("mlpipe_rpc_request_duration_seconds")
          .Help("gRPC request latency from start of call to status sent.")
          .Register(metrics::Registry()),
  };
  return *f;
}

// One method's series, found once per method (Family::Add hashes a label
// map at every call: ~1 us each, twice per call).
class MethodSeries {
 public:
  explicit MethodSeries(const std::string& method)
      : method_(method),
        latency_(Rpc().latency.Add({{"method", method}},
                                   metrics::LatencyBuckets())) {}
  prometheus::Histogram& latency() { return latency_; }
  prometheus::Counter& requests(grpc::StatusCode code) {
    const size_t c = static_cast<size_t>(code);
    if (c >= by_code_.size()) return Add(code);
    prometheus::Counter* counter = by_code_[c].load(std::memory_order_acquire);
    if (counter == nullptr) {
      counter = &Add(code);
      by_code_[c].store(counter, std::memory_order_release);
    }
    return *counter;
  }
  // The series of `method` (kept for the process's life: the methods are
  // the compiled ones, a bounded set).
  static MethodSeries& Of(const char* method) {
    static absl::Mutex mu(absl::kConstInit);
    static auto* all =
        new absl::flat_hash_map<std::string, std::unique_ptr<MethodSeries>>;
    const absl::string_view name(method == nullptr ? "" : method);
    {
      absl::ReaderMutexLock lock(&mu);
      if (auto it = all->find(name); it != all->end()) return *it->second;
    }
    absl::MutexLock lock(&mu);
    auto& s = (*all)[name];
    if (s == nullptr) s = std::make_unique<MethodSeries>(std::string(name));
    return *s;
  }

 private:
  prometheus::Counter& Add(grpc::StatusCode code) {
    return Rpc().requests.Add(
        {{"method", method_}, {"code", metrics::StatusCodeName(code)}});
  }
  const std::string method_;
  prometheus::Histogram& latency_;
  std::array<std::atomic<prometheus::Counter*>, 17> by_code_{};
};

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetricsInterceptor(MethodSeries* series)
      : series_(series), start_(std::chrono::steady_clock::now()) {}
  ~RpcMetricsInterceptor() override {
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    if (m->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(m->GetSendStatus().error_code());
    }
    m->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_)
            .count();
    series_->requests(code).Increment();
    series_->latency().Observe(secs);
  }

  MethodSeries* const series_;
  std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

class RpcMetricsFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(&MethodSeries::Of(info->method()));
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory() {
  return std::make_unique<RpcMetricsFactory>();
}

}  // namespace mlpipe::rpc
