#include "services/monitor/rollout_plan.h"

#include <cmath>
#include <map>
#include <string>

#include "common/config/pipeline_config.h"
#include "common/util/strings.h"
#include "services/monitor/canary.h"

namespace mlpipe::monitor {
namespace {

using K = google::protobuf::Value::KindCase;

absl::Status Bad(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError(StrCat("canary.", key, ": ", why));
}

absl::StatusOr<double> Number(const std::string& key,
                              const google::protobuf::Value& v) {
  if (v.kind_case() != K::kNumberValue) return Bad(key, "must be a number");
  return v.number_value();
}

absl::Status ParseAnalysis(const google::protobuf::Value& v,
                           v1::RolloutPlan* plan) {
  if (v.kind_case() != K::kStructValue)
    return Bad("analysis", "must be a mapping");
  for (const auto& [key, value] : v.struct_value().fields()) {
    const std::string where = StrCat("analysis.", key);
    if (key == "metric") {
      canary::Metric m;
      if (value.kind_case() != K::kStringValue ||
          !canary::ParseMetric(value.string_value(), &m).ok())
        return Bad(where, "one of auc, accuracy, logloss, rmse");
      plan->set_metric(value.string_value());
      continue;
    }
    if (key == "interval") {
      absl::StatusOr<double> seconds =
          value.kind_case() == K::kStringValue
              ? config::ParseDurationSeconds(value.string_value())
              : Number(where, value);
      if (!seconds.ok()) return Bad(where, "a duration such as 30s, 10m or 1h");
      // Zero in the proto takes the default: refused here, not replaced.
      if (!(*seconds >= 1))
        return Bad(where, StrCat("at least 1s, got ", *seconds, "s"));
      plan->set_interval_seconds(*seconds);
      continue;
    }
    static const auto* kNumbers =
        new std::map<std::string, void (*)(v1::RolloutPlan*, double)>{
            {"max_regression",
             [](v1::RolloutPlan* p, double x) { p->set_max_regression(x); }},
            {"min_actuals",
             [](v1::RolloutPlan* p, double x) {
               p->set_min_actuals(static_cast<int64_t>(x));
             }},
            {"max_latency_p99_ratio",
             [](v1::RolloutPlan* p, double x) {
               p->set_max_latency_p99_ratio(x);
             }},
            {"max_error_rate_delta",
             [](v1::RolloutPlan* p, double x) {
               p->set_max_error_rate_delta(x);
             }},
            {"confidence",
             [](v1::RolloutPlan* p, double x) { p->set_confidence(x); }}};
    auto set = kNumbers->find(key);
    if (set == kNumbers->end()) {
      return Bad(where,
                 "unknown key (known: metric, max_regression, min_actuals, "
                 "max_latency_p99_ratio, max_error_rate_delta, interval, "
                 "confidence)");
    }
    auto x = Number(where, value);
    if (!x.ok()) return x.status();
    // Zero in the proto takes the default: refused here, not replaced.
    if (!(*x > 0)) return Bad(where, StrCat("must be > 0, got ", *x));
    if (key == "min_actuals" && !(*x >= 1 && *x == std::floor(*x) && *x < 1e15))
      return Bad(where, "a whole number >= 1");
    set->second(plan, *x);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::RolloutPlan> RolloutPlanFromValue(
    const google::protobuf::Value& canary) {
  v1::RolloutPlan plan;
  if (canary.kind_case() == K::kNullValue) return plan;  // `canary:` alone.
  if (canary.kind_case() != K::kStructValue) {
    return absl::InvalidArgumentError(
        "canary: must be a mapping ({steps: [...], analysis: {...}})");
  }
  for (const auto& [key, value] : canary.struct_value().fields()) {
    if (key == "steps") {
      if (value.kind_case() != K::kListValue)
        return Bad(key, "must be a list of percentages, e.g. [5, 25, 50, 100]");
      for (int i = 0; i < value.list_value().values_size(); ++i) {
        const auto& s = value.list_value().values(i);
        if (s.kind_case() != K::kNumberValue ||
            s.number_value() != std::floor(s.number_value()) ||
            !(std::abs(s.number_value()) < 1e6))
          return Bad(StrCat("steps[", i, "]"), "must be a whole number");
        plan.add_steps(static_cast<int32_t>(s.number_value()));
      }
    } else if (key == "analysis") {
      if (auto s = ParseAnalysis(value, &plan); !s.ok()) return s;
    } else {
      return Bad(key, "unknown key (known: steps, analysis)");
    }
  }
  if (auto p = canary::PlanFromProto(plan); !p.ok()) return p.status();
  return plan;
}

}  // namespace mlpipe::monitor
