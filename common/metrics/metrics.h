// Prometheus metrics: one registry per process and its HTTP exposer (no
// gRPC here: domain classes record their metrics without it; the RPC
// interceptor is common/rpc/rpc_metrics.h).
//
// Naming: mlpipe_<service>_<what>_<unit>, e.g. mlpipe_ingest_rows_total,
// mlpipe_ingest_batch_duration_seconds. RPC metrics are shared by every
// service: mlpipe_rpc_requests_total{method,code} and
// mlpipe_rpc_request_duration_seconds{method}.
#ifndef MLPIPE_COMMON_METRICS_METRICS_H_
#define MLPIPE_COMMON_METRICS_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace mlpipe::metrics {

// The process-wide registry. Thread-safe.
prometheus::Registry& Registry();

// Bucket bounds (seconds) for latencies from 100 us to 60 s.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

// Serves GET /metrics over HTTP. Stops when destroyed.
class Exposer {
 public:
  // `address` is "host:port"; port 0 picks a free port. `disk_paths`:
  // directories whose file system's free and total bytes are served
  // (mlpipe_disk_free_bytes, mlpipe_disk_capacity_bytes {path}).
  static absl::StatusOr<std::unique_ptr<Exposer>> Start(
      const std::string& address,
      const std::vector<std::string>& disk_paths = {});
  virtual ~Exposer() = default;
  virtual int port() const = 0;
};

// The canonical upper-case name of a gRPC status code ("INVALID_ARGUMENT").
const char* StatusCodeName(int code);

}  // namespace mlpipe::metrics

#endif  // MLPIPE_COMMON_METRICS_METRICS_H_
