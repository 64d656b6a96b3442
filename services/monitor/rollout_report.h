// A canary rollout (v1::Rollout, as GetRollout returns it) as one
// self-contained HTML page: where it stands and why, the metric's
// always-valid confidence sequence over the checks against the tolerance
// (inline SVG), and the latency and error comparisons of the last check.
#ifndef MLPIPE_SERVICES_MONITOR_ROLLOUT_REPORT_H_
#define MLPIPE_SERVICES_MONITOR_ROLLOUT_REPORT_H_

#include <string>

#include "mlpipe/v1/monitor.pb.h"

namespace mlpipe::monitor {

std::string RolloutHtmlReport(const v1::Rollout& rollout);

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_ROLLOUT_REPORT_H_
