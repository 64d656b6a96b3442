// The monitoring service's Prometheus metrics (mlpipe_monitor_*): gauges of
// the latest drift and performance per model version (what alert rules
// fire on) and counters of what flowed through.
#ifndef MLPIPE_SERVICES_MONITOR_MONITOR_METRICS_H_
#define MLPIPE_SERVICES_MONITOR_MONITOR_METRICS_H_

#include <cstdint>
#include <string>

#include "mlpipe/v1/monitor.pb.h"

namespace mlpipe::monitor {

// mlpipe_monitor_drift_score{model, version, field, method},
// mlpipe_monitor_drift_threshold{...}, mlpipe_monitor_field_drifted{model,
// version, field}, mlpipe_monitor_drifted_fields{model, version},
// mlpipe_monitor_missing_ratio{model, version, field}: of the last window
// that closed.
void RecordDrift(const std::string& version, const v1::DriftReport& report);
// mlpipe_monitor_performance{model, version, metric}: the open window's;
// with a policy, mlpipe_monitor_performance_bound{model, version, metric,
// bound="min"|"max"} too (alert rules compare the two).
void RecordPerformance(const std::string& version, v1::Task task,
                       const v1::Performance& p,
                       const v1::MonitorPolicy* policy);
// mlpipe_monitor_alerts_total{kind}.
void CountAlert(const std::string& kind);
// mlpipe_monitor_logged_predictions_total.
void CountLogged(uint64_t records);
// mlpipe_monitor_actuals_total{outcome}: recorded, duplicate, unmatched,
// refused.
void CountActuals(const v1::ActualsResult& result);
// mlpipe_monitor_rollbacks_total{outcome}: done, skipped, failed.
void CountRollback(const std::string& outcome);
// mlpipe_monitor_rollout_actions_total{action}: advance, promote, rollback.
void CountRolloutAction(const std::string& action);
// Of a rollout: mlpipe_monitor_rollout_state{alias, state} (1 for its
// state, 0 for the others), mlpipe_monitor_rollout_canary_share{alias},
// mlpipe_monitor_rollout_actuals{alias, arm}, and its last check's
// criteria: mlpipe_monitor_rollout_criterion{alias, criterion,
// value="estimate"|"lower"|"upper"|"bound"}.
void RecordRollout(const v1::Rollout& rollout);

}  // namespace mlpipe::monitor

#endif  // MLPIPE_SERVICES_MONITOR_MONITOR_METRICS_H_
