#include "services/monitor/monitor_metrics.h"

#include "absl/strings/ascii.h"
#include "common/metrics/metrics.h"

namespace mlpipe::monitor {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;

struct Families {
  Family<Gauge>& drift_score =
      BuildGauge()
          .Name("mlpipe_monitor_drift_score")
          .Help(
              "The deciding drift statistic (psi for numbers, "
              "jensenshannon for categories) of each field in the last "
              "closed window of predictions, against the version's "
              "reference.")
          .Register(metrics::Registry());
  Family<Gauge>& drift_threshold =
      BuildGauge()
          .Name("mlpipe_monitor_drift_threshold")
          .Help("The threshold the drift score is compared with.")
          .Register(metrics::Registry());
  Family<Gauge>& field_drifted =
      BuildGauge()
          .Name("mlpipe_monitor_field_drifted")
          .Help("1 when the field drifted in the last closed window, else 0.")
          .Register(metrics::Registry());
  Family<Gauge>& drifted_fields =
      BuildGauge()
          .Name("mlpipe_monitor_drifted_fields")
          .Help("Fields that drifted in the last closed window.")
          .Register(metrics::Registry());
  Family<Gauge>& missing =
      BuildGauge()
          .Name("mlpipe_monitor_missing_ratio")
          .Help("Share of missing values per field in the last closed window.")
          .Register(metrics::Registry());
  Family<Gauge>& performance =
      BuildGauge()
          .Name("mlpipe_monitor_performance")
          .Help(
              "Performance of a model version from joined actuals, over its "
              "open window (accuracy, auc, rmse, mae, r2).")
          .Register(metrics::Registry());
  Family<Gauge>& bound =
      BuildGauge()
          .Name("mlpipe_monitor_performance_bound")
          .Help(
              "The bound a version's policy sets on a performance metric "
              "(bound min: it must stay at or above; max: at or below).")
          .Register(metrics::Registry());
  Family<Counter>& alerts =
      BuildCounter()
          .Name("mlpipe_monitor_alerts_total")
          .Help("Alerts raised, by kind (drift, performance).")
          .Register(metrics::Registry());
  Counter& logged =
      BuildCounter()
          .Name("mlpipe_monitor_logged_predictions_total")
          .Help("Prediction records received from the scoring service.")
          .Register(metrics::Registry())
          .Add({});
  Family<Counter>& actuals =
      BuildCounter()
          .Name("mlpipe_monitor_actuals_total")
          .Help(
              "Actuals received, by outcome (recorded, duplicate, "
              "unmatched, refused).")
          .Register(metrics::Registry());
  Family<Counter>& rollout_actions =
      BuildCounter()
          .Name("mlpipe_monitor_rollout_actions_total")
          .Help(
              "Canary rollout decisions acted on, by action (advance, "
              "promote, rollback).")
          .Register(metrics::Registry());
  Family<Gauge>& rollout_state =
      BuildGauge()
          .Name("mlpipe_monitor_rollout_state")
          .Help(
              "1 for the state a canary rollout of the alias is in "
              "(running, paused, promoted, rolled_back, aborted), else 0.")
          .Register(metrics::Registry());
  Family<Gauge>& rollout_share =
      BuildGauge()
          .Name("mlpipe_monitor_rollout_canary_share")
          .Help(
              "The canary's share of the alias's traffic in percent, as "
              "its rollout wants it.")
          .Register(metrics::Registry());
  Family<Gauge>& rollout_actuals =
      BuildGauge()
          .Name("mlpipe_monitor_rollout_actuals")
          .Help(
              "Actuals joined to each arm's predictions (canary, primary) "
              "since the rollout started.")
          .Register(metrics::Registry());
  Family<Gauge>& rollout_criterion =
      BuildGauge()
          .Name("mlpipe_monitor_rollout_criterion")
          .Help(
              "The last check of a rollout: each criterion's canary-minus-"
              "primary estimate, its always-valid confidence bounds "
              "(lower, upper) and the tolerance (bound).")
          .Register(metrics::Registry());
  Family<Counter>& rollbacks =
      BuildCounter()
          .Name("mlpipe_monitor_rollbacks_total")
          .Help(
              "Automatic rollbacks after a performance alert, by outcome "
              "(done, skipped, failed).")
          .Register(metrics::Registry());
};

Families& F() {
  static auto* f = new Families();
  return *f;
}

std::string ModelOf(const std::string& version) {
  return version.substr(0, version.rfind(':'));
}

}  // namespace

void RecordDrift(const std::string& version, const v1::DriftReport& report) {
  auto& f = F();
  const std::string model = ModelOf(version);
  for (const auto& d : report.fields()) {
    f.drift_score
        .Add({{"model", model},
              {"version", version},
              {"field", d.name()},
              {"method", d.method()}})
        .Set(d.score());
    f.drift_threshold
        .Add({{"model", model},
              {"version", version},
              {"field", d.name()},
              {"method", d.method()}})
        .Set(d.threshold());
    f.field_drifted
        .Add({{"model", model}, {"version", version}, {"field", d.name()}})
        .Set(d.drifted() ? 1 : 0);
    f.missing.Add({{"model", model}, {"version", version}, {"field", d.name()}})
        .Set(d.missing_rate());
  }
  f.drifted_fields.Add({{"model", model}, {"version", version}})
      .Set(report.drifted_size());
}

void RecordPerformance(const std::string& version, v1::Task task,
                       const v1::Performance& p,
                       const v1::MonitorPolicy* policy) {
  auto& f = F();
  const std::string model = ModelOf(version);
  if (policy != nullptr) {
    auto bound = [&](const char* metric, const char* kind, double v) {
      f.bound
          .Add({{"model", model},
                {"version", version},
                {"metric", metric},
                {"bound", kind}})
          .Set(v);
    };
    if (policy->has_min_accuracy())
      bound("accuracy", "min", policy->min_accuracy());
    if (policy->has_min_auc()) bound("auc", "min", policy->min_auc());
    if (policy->has_max_rmse()) bound("rmse", "max", policy->max_rmse());
    if (policy->has_min_r2()) bound("r2", "min", policy->min_r2());
  }
  auto set = [&](const char* metric, double v) {
    f.performance
        .Add({{"model", model}, {"version", version}, {"metric", metric}})
        .Set(v);
  };
  if (task == v1::REGRESSION) {
    set("rmse", p.rmse());
    set("mae", p.mae());
    set("r2", p.r2());
  } else {
    set("accuracy", p.accuracy());
    if (task == v1::BINARY) set("auc", p.auc());
  }
}

void CountAlert(const std::string& kind) {
  F().alerts.Add({{"kind", kind}}).Increment();
}

void CountLogged(uint64_t records) {
  F().logged.Increment(static_cast<double>(records));
}

void CountActuals(const v1::ActualsResult& r) {
  auto& f = F();
  f.actuals.Add({{"outcome", "recorded"}}).Increment(r.recorded());
  f.actuals.Add({{"outcome", "duplicate"}}).Increment(r.duplicates());
  f.actuals.Add({{"outcome", "unmatched"}}).Increment(r.unmatched());
  f.actuals.Add({{"outcome", "refused"}}).Increment(r.errors_size());
}

void CountRollback(const std::string& outcome) {
  F().rollbacks.Add({{"outcome", outcome}}).Increment();
}

void CountRolloutAction(const std::string& action) {
  F().rollout_actions.Add({{"action", action}}).Increment();
}

void RecordRollout(const v1::Rollout& r) {
  Families& f = F();
  for (int s = v1::Rollout::RUNNING; s <= v1::Rollout::ABORTED; ++s) {
    const auto state = static_cast<v1::Rollout::State>(s);
    f.rollout_state
        .Add({{"alias", r.alias()},
              {"state", absl::AsciiStrToLower(v1::Rollout::State_Name(state))}})
        .Set(r.state() == state ? 1 : 0);
  }
  f.rollout_share.Add({{"alias", r.alias()}}).Set(r.share());
  f.rollout_actuals.Add({{"alias", r.alias()}, {"arm", "canary"}})
      .Set(static_cast<double>(r.canary_evidence().performance().count()));
  f.rollout_actuals.Add({{"alias", r.alias()}, {"arm", "primary"}})
      .Set(static_cast<double>(r.primary_evidence().performance().count()));
  if (r.checks().empty()) return;
  for (const auto& c : r.checks().rbegin()->criteria()) {
    auto set = [&](const char* what, double v) {
      f.rollout_criterion
          .Add({{"alias", r.alias()}, {"criterion", c.name()}, {"value", what}})
          .Set(v);
    };
    set("estimate", c.estimate());
    set("lower", c.lower());
    set("upper", c.upper());
    set("bound", c.bound());
  }
}

}  // namespace mlpipe::monitor
