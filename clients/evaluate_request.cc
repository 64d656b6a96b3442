#include "clients/evaluate_request.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_join.h"
#include "common/util/strings.h"

namespace mlpipe::evaluate {
namespace {

// INVALID_ARGUMENT "<field>: '<name>' is not a metric (...)" unless `name`
// is empty or a metric of some task (the task is known once the models
// are read).
absl::Status CheckMetricName(const std::string& field,
                             const std::string& name) {
  if (name.empty()) return absl::OkStatus();
  std::vector<std::string> known;
  for (v1::Task task :
       {v1::BINARY, v1::MULTICLASS, v1::REGRESSION, v1::CLUSTERING}) {
    for (const auto& m : eval::MetricsFor(task)) {
      if (m == name) return absl::OkStatus();
      if (std::find(known.begin(), known.end(), m) == known.end())
        known.push_back(m);
    }
  }
  return absl::InvalidArgumentError(StrCat(field, ": '", name,
                                           "' is not a metric (",
                                           absl::StrJoin(known, ", "), ")"));
}

}  // namespace

absl::Status CheckRequest(const v1::EvaluateRequest& r) {
  if (auto s = CheckMetricName("metric", r.metric()); !s.ok()) return s;
  if (auto s = CheckMetricName("gate.metric", r.gate().metric()); !s.ok())
    return s;
  for (int i = 0; i < r.gate().bounds_size(); ++i) {
    if (auto s = CheckMetricName(StrCat("gate.bounds[", i, "].metric"),
                                 r.gate().bounds(i).metric());
        !s.ok())
      return s;
  }
  if (r.models().empty())
    return absl::InvalidArgumentError("models: name at least one model");
  for (int i = 0; i < r.models_size(); ++i) {
    if (r.models(i).empty())
      return absl::InvalidArgumentError(StrCat("models[", i, "]: empty"));
  }
  std::map<std::string, std::pair<int, int>> buckets;  // Column -> (n, spec).
  for (int i = 0; i < r.slices_size(); ++i) {
    const auto& s = r.slices(i);
    if (s.columns().empty()) {
      return absl::InvalidArgumentError(
          StrCat("slices[", i, "]: name at least one column"));
    }
    if (s.buckets() < 0 || s.buckets() > 100) {
      return absl::InvalidArgumentError(StrCat(
          "slices[", i, "].buckets: ", s.buckets(), " is not in [0, 100]"));
    }
    for (const auto& c : s.columns()) {
      auto [it, added] = buckets.emplace(c, std::make_pair(s.buckets(), i));
      if (!added && it->second.first != s.buckets()) {
        return absl::InvalidArgumentError(
            StrCat("slices[", i, "].buckets: column ", c, " is cut into ",
                   it->second.first, " in slices[", it->second.second,
                   "]; use one number of buckets per column"));
      }
    }
  }
  if (r.has_threshold() && !(r.threshold() >= 0 && r.threshold() <= 1)) {
    return absl::InvalidArgumentError(
        StrCat("threshold: ", r.threshold(), " is not in [0, 1]"));
  }
  const std::string& c = r.threshold_criterion();
  if (!c.empty() && c != "f1" && c != "youden" && c != "accuracy") {
    return absl::InvalidArgumentError(StrCat(
        "threshold_criterion: \"", c, "\" is not one of f1, youden, accuracy"));
  }
  if (r.has_bootstrap_resamples() &&
      (r.bootstrap_resamples() < 0 || r.bootstrap_resamples() > 10000)) {
    return absl::InvalidArgumentError(
        StrCat("bootstrap_resamples: ", r.bootstrap_resamples(),
               " is not in [0, 10000]"));
  }
  if (r.min_slice_rows() < 0)
    return absl::InvalidArgumentError("min_slice_rows: must be >= 0");
  if (r.calibration_bins() < 0 || r.calibration_bins() > 1000)
    return absl::InvalidArgumentError("calibration_bins: not in [0, 1000]");
  if (r.curve_points() < 0 || r.curve_points() == 1)
    return absl::InvalidArgumentError("curve_points: 0 (default) or >= 2");
  return absl::OkStatus();
}

eval::Options OptionsFrom(const v1::EvaluateRequest& r) {
  eval::Options o;
  if (r.has_threshold()) o.threshold = r.threshold();
  if (!r.threshold_criterion().empty()) o.criterion = r.threshold_criterion();
  if (r.has_bootstrap_resamples()) o.resamples = r.bootstrap_resamples();
  if (r.seed() != 0) o.seed = r.seed();
  if (r.calibration_bins() > 0) o.calibration_bins = r.calibration_bins();
  if (r.curve_points() > 0) o.curve_points = r.curve_points();
  o.headline = r.metric();
  return o;
}

}  // namespace mlpipe::evaluate
