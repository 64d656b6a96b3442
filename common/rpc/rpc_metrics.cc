#include "common/rpc/rpc_metrics.h"

#include <chrono>
#include <string>

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

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RpcMetricsInterceptor(std::string method)
      : method_(std::move(method)), start_(std::chrono::steady_clock::now()) {}
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
    Rpc()
        .requests
        .Add({{"method", method_}, {"code", metrics::StatusCodeName(code)}})
        .Increment();
    Rpc()
        .latency.Add({{"method", method_}}, metrics::LatencyBuckets())
        .Observe(secs);
  }

  std::string method_;
  std::chrono::steady_clock::time_point start_;
  bool recorded_ = false;
};

class RpcMetricsFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new RpcMetricsInterceptor(info->method());
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewRpcMetricsInterceptorFactory() {
  return std::make_unique<RpcMetricsFactory>();
}

}  // namespace mlpipe::rpc
