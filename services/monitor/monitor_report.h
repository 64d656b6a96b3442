// A monitoring report (v1::MonitorReport with its profiles) as one
// self-contained HTML page: summary, latency, performance, the drift table,
// and per field the reference and current distributions as inline SVG.
// Needs only the profiles: the CLI builds it from GetReport's answer.
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_REPORT_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_REPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "mlpipe/v1/monitor.pb.h"
#include "mlpipe/v1/monitor_service.pb.h"

namespace mlpipe::monitor {

// The shares of a field in two profiles over common bins. Numbers: at most
// about `bins` equal-width bins over both ranges, on round edges (a step of
// 1, 2, 2.5 or 5 times a power of ten), labelled "[lo, hi)". Categories:
// those most frequent on either side, up to `bins` (a category the
// reference never saw keeps its name), the rest as "(other)".
// FAILED_PRECONDITION when a profile lacks the field.
struct Histogram {
  std::vector<std::string> labels;
  std::vector<double> reference, current;  // Shares, each summing to 1.
  std::vector<double> edges;  // Numbers: labels.size() + 1 bin edges.
  std::vector<bool> unseen;   // Categories: not in the reference.
  bool time = false;          // Edges are timestamps (microseconds, UTC).
};
absl::StatusOr<Histogram> CompareHistogram(const v1::Profile& reference,
                                           const v1::Profile& current,
                                           const std::string& field,
                                           int bins = 20);

std::string MonitorHtmlReport(const v1::MonitorReport& report);

// "2024-03-01 12:30:00 UTC", HTML-escaped; an en dash for 0.
std::string HtmlTime(int64_t micros);

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_REPORT_H_
