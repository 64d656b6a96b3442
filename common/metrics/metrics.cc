#include "common/metrics/metrics.h"

#include <sys/statvfs.h>

#include <chrono>

#include "common/util/strings.h"
#include "prometheus/exposer.h"

namespace mlpipe::metrics {
namespace {

class CivetExposer final : public Exposer {
 public:
  explicit CivetExposer(std::unique_ptr<prometheus::Exposer> e)
      : exposer_(std::move(e)) {}
  int port() const override {
    auto ports = exposer_->GetListeningPorts();
    return ports.empty() ? 0 : ports.front();
  }

 private:
  std::unique_ptr<prometheus::Exposer> exposer_;
};

}  // namespace

namespace {
// Lives for the whole process. The exposer keeps only a weak_ptr to what it
// serves, so it must get this owning pointer.
const std::shared_ptr<prometheus::Registry>& SharedRegistry() {
  static auto* registry = new std::shared_ptr<prometheus::Registry>(
      std::make_shared<prometheus::Registry>());
  return *registry;
}
}  // namespace

prometheus::Registry& Registry() { return *SharedRegistry(); }

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}

namespace {

// Free and total bytes of the file systems holding `paths`, read at each
// scrape (statvfs).
class DiskCollectable final : public prometheus::Collectable {
 public:
  explicit DiskCollectable(std::vector<std::string> paths)
      : paths_(std::move(paths)) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily free{
        "mlpipe_disk_free_bytes",
        "Bytes available to the process on the file system of a data "
        "directory.",
        prometheus::MetricType::Gauge,
        {}};
    prometheus::MetricFamily capacity{
        "mlpipe_disk_capacity_bytes",
        "Size of the file system of a data directory.",
        prometheus::MetricType::Gauge,
        {}};
    for (const auto& path : paths_) {
      struct statvfs st;
      if (statvfs(path.c_str(), &st) != 0) continue;
      prometheus::ClientMetric m;
      m.label = {{"path", path}};
      m.gauge.value = static_cast<double>(st.f_bavail) * st.f_frsize;
      free.metric.push_back(m);
      m.gauge.value = static_cast<double>(st.f_blocks) * st.f_frsize;
      capacity.metric.push_back(m);
    }
    return {free, capacity};
  }

 private:
  const std::vector<std::string> paths_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Exposer>> Exposer::Start(
    const std::string& address, const std::vector<std::string>& disk_paths) {
  try {
    auto e = std::make_unique<prometheus::Exposer>(address, 2);
    e->RegisterCollectable(SharedRegistry());
    if (!disk_paths.empty()) {
      // The exposer keeps a weak_ptr: this object lives as long as the
      // process.
      static auto* disks = new std::vector<std::shared_ptr<DiskCollectable>>;
      disks->push_back(std::make_shared<DiskCollectable>(disk_paths));
      e->RegisterCollectable(disks->back());
    }
    return std::unique_ptr<Exposer>(new CivetExposer(std::move(e)));
  } catch (const std::exception& ex) {
    return absl::UnavailableError(
        StrCat("metrics exposer on ", address, ": ", ex.what()));
  }
}

const char* StatusCodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  if (code < 0 || code > 16) return "UNKNOWN";
  return kNames[code];
}

}  // namespace mlpipe::metrics
