#include "common/eval/gate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/eval/metrics.h"
#include "common/util/strings.h"

namespace mlpipe::eval {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

bool Known(const std::string& metric, v1::Task task) {
  const auto& all = MetricsFor(task);
  return std::find(all.begin(), all.end(), metric) != all.end();
}

}  // namespace

absl::Status CheckGate(const v1::GateSpec& gate, v1::Task task) {
  auto unknown = [&](const std::string& where, const std::string& metric) {
    std::string names;
    for (const auto& m : MetricsFor(task))
      StrAppend(&names, names.empty() ? "" : ", ", m);
    return absl::InvalidArgumentError(StrCat(where, ": no metric \"", metric,
                                             "\" for ", v1::Task_Name(task),
                                             " models (", names, ")"));
  };
  if (!gate.metric().empty() && !Known(gate.metric(), task))
    return unknown("gate.metric", gate.metric());
  for (int i = 0; i < gate.bounds_size(); ++i) {
    const auto& b = gate.bounds(i);
    const std::string where = StrCat("gate.bounds[", i, "]");
    if (!Known(b.metric(), task)) return unknown(where, b.metric());
    if (!b.has_min() && !b.has_max()) {
      return absl::InvalidArgumentError(
          StrCat(where, ": give min, max or both for ", b.metric()));
    }
    if (b.has_min() && b.has_max() && b.min() > b.max()) {
      return absl::InvalidArgumentError(
          StrCat(where, ": min ", Num(b.min()), " > max ", Num(b.max())));
    }
  }
  if (!std::isfinite(gate.min_improvement())) {
    return absl::InvalidArgumentError("gate.min_improvement: must be finite");
  }
  return absl::OkStatus();
}

v1::Verdict Judge(const std::vector<v1::MetricValue>& candidate,
                  const Baseline* baseline, const v1::GateSpec& gate,
                  v1::Task task) {
  v1::Verdict v;
  bool pass = true;
  const std::string metric =
      gate.metric().empty() ? HeadlineMetric(task) : gate.metric();
  v.set_metric(metric);
  v.set_value(Find(candidate, metric));
  for (const auto& b : gate.bounds()) {
    const double x = Find(candidate, b.metric());
    if (std::isnan(x)) {
      pass = false;
      v.add_reasons(StrCat(b.metric(), " is undefined on these rows"));
      continue;
    }
    if (b.has_min()) {
      const bool ok = x >= b.min();
      pass &= ok;
      v.add_reasons(StrCat(b.metric(), " ", Num(x), ok ? " >= " : " < ", "min ",
                           Num(b.min())));
    }
    if (b.has_max()) {
      const bool ok = x <= b.max();
      pass &= ok;
      v.add_reasons(StrCat(b.metric(), " ", Num(x), ok ? " <= " : " > ", "max ",
                           Num(b.max())));
    }
  }
  if (std::isnan(v.value())) {
    pass = false;
    v.add_reasons(StrCat(metric, " is undefined on these rows"));
  }
  if (baseline == nullptr) {
    if (gate.require_baseline()) {
      pass = false;
      v.add_reasons("no baseline to compare with, and the gate requires one");
    } else {
      v.add_reasons("no baseline yet: judged on the bounds alone");
    }
  } else {
    v.set_baseline_model(baseline->model);
    const double base = Find(baseline->metrics, metric);
    v.set_baseline_value(base);
    if (std::isnan(base)) {
      pass = false;
      v.add_reasons(StrCat("the baseline ", baseline->model, "'s ", metric,
                           " is undefined on these rows"));
    } else if (!std::isnan(v.value())) {
      const double diff =
          HigherIsBetter(metric) ? v.value() - base : base - v.value();
      v.set_improvement(diff);
      const bool ok = diff >= gate.min_improvement();
      pass &= ok;
      v.add_reasons(StrCat(
          metric, " ", Num(v.value()), " is ", Num(std::abs(diff)),
          diff >= 0 ? " better" : " worse", " than ", baseline->model, "'s ",
          Num(base), " (needs ", ">= ", Num(gate.min_improvement()), ")"));
    }
  }
  v.set_blessed(pass);
  return v;
}

}  // namespace mlpipe::eval
