#include "services/monitor/canary.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/util/strings.h"

namespace mlpipe::monitor::canary {
namespace {

constexpr double kLatencyLow = 1e-6;  // Seconds at bin 1's lower edge.
constexpr double kBinsPerDecade = 20;
// A canary exactly at the latency bound has this share above it.
constexpr double kTail = 0.01;
// Criteria that can roll back, sharing 1 - confidence.
constexpr int kCriteria = 3;

int ShiftBin(double p) {
  if (!(p > 0)) return 0;
  return std::min(kShiftBins - 1, static_cast<int>(p * kShiftBins));
}

// Bin i >= 1 spans [LatencyEdge(i - 1), LatencyEdge(i)); 0 and the last
// take what is below and above.
double LatencyEdge(int i) {
  return kLatencyLow * std::pow(10.0, i / kBinsPerDecade);
}

int LatencyBin(double seconds) {
  if (!(seconds >= kLatencyLow)) return 0;
  const int i =
      1 + static_cast<int>(std::log10(seconds / kLatencyLow) * kBinsPerDecade);
  return std::min(kLatencyBins - 1, i);
}

double Proportion(int64_t k, int64_t n) {
  return n > 0 ? static_cast<double>(k) / n : NAN;
}

// A criterion on d (higher is better: true for the metric) with variance v
// against `bound`: FAIL beyond it, PASS within, with confidence; the
// mixture's scale `tau` is the effect size of interest.
Criterion Decide(std::string name, double d, double v, double bound, double tau,
                 double alpha, bool higher_is_better, bool enough) {
  Criterion c;
  c.name = std::move(name);
  c.estimate = d;
  c.bound = bound;
  if (std::isnan(d) || std::isnan(v) || !enough) {
    c.why = "not enough evidence yet";
    return c;
  }
  const double w = MixtureHalfWidth(v, tau * tau, alpha);
  c.lower = d - w;
  c.upper = d + w;
  const bool fail = higher_is_better ? c.upper < c.bound : c.lower > c.bound;
  const bool pass = higher_is_better ? c.lower > c.bound : c.upper < c.bound;
  c.verdict = fail ? Verdict::kFail : pass ? Verdict::kPass : Verdict::kHold;
  auto g = [](double x) {  // 4 significant digits.
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.4g", x);
    return std::string(buf);
  };
  c.why = StrCat(fail   ? "worse than allowed"
                 : pass ? "within bounds"
                        : "undecided",
                 ": ", g(d), " in [", g(c.lower), ", ", g(c.upper), "], bound ",
                 g(c.bound));
  return c;
}

double Psi(const std::array<double, kShiftBins>& a,
           const std::array<double, kShiftBins>& b) {
  double na = 0, nb = 0;
  for (int i = 0; i < kShiftBins; ++i) {
    na += a[i];
    nb += b[i];
  }
  if (na == 0 || nb == 0) return NAN;
  double psi = 0;
  for (int i = 0; i < kShiftBins; ++i) {
    const double p = std::max(a[i] / na, 1e-4), q = std::max(b[i] / nb, 1e-4);
    psi += (p - q) * std::log(p / q);
  }
  return psi;
}

}  // namespace

absl::Status ParseMetric(const std::string& name, Metric* out) {
  if (name == "auc") {
    *out = Metric::kAuc;
  } else if (name == "accuracy") {
    *out = Metric::kAccuracy;
  } else if (name == "logloss") {
    *out = Metric::kLogLoss;
  } else if (name == "rmse") {
    *out = Metric::kRmse;
  } else {
    return absl::InvalidArgumentError(StrCat(
        "analysis.metric: auc, accuracy, logloss or rmse, got \"", name, "\""));
  }
  return absl::OkStatus();
}

std::string MetricName(Metric m) {
  switch (m) {
    case Metric::kAuc:
      return "auc";
    case Metric::kAccuracy:
      return "accuracy";
    case Metric::kLogLoss:
      return "logloss";
    case Metric::kRmse:
      return "rmse";
  }
  return "";
}

std::string VerdictName(Verdict v) {
  return v == Verdict::kPass ? "pass" : v == Verdict::kFail ? "fail" : "hold";
}

std::string DecisionName(Decision d) {
  return d == Decision::kAdvance    ? "advance"
         : d == Decision::kRollback ? "rollback"
                                    : "hold";
}

ArmEvidence::ArmEvidence(v1::Task task, std::vector<std::string> classes)
    : perf_(task, std::move(classes)) {}

void ArmEvidence::AddRequest(double latency_seconds, bool error) {
  ++requests_;
  if (error) ++errors_;
  latency_[LatencyBin(latency_seconds)] += 1;
}

absl::Status ArmEvidence::AddActual(const std::vector<double>& scores,
                                    const std::string& label,
                                    const google::protobuf::Value& actual) {
  if (auto s = perf_.Add(scores, label, actual); !s.ok()) return s;
  if (!scores.empty()) {  // P(positive), or the top class's probability.
    const double p = scores.size() == 1
                         ? scores[0]
                         : *std::max_element(scores.begin(), scores.end());
    predictions_[ShiftBin(p)] += 1;
  }
  return absl::OkStatus();
}

absl::Status ArmEvidence::Merge(const ArmEvidence& o) {
  if (auto s = perf_.Merge(o.perf_); !s.ok()) return s;
  requests_ += o.requests_;
  errors_ += o.errors_;
  for (int i = 0; i < kLatencyBins; ++i) latency_[i] += o.latency_[i];
  for (int i = 0; i < kShiftBins; ++i) predictions_[i] += o.predictions_[i];
  return absl::OkStatus();
}

v1::RolloutArm ArmEvidence::ToProto() const {
  v1::RolloutArm out;
  *out.mutable_performance() = perf_.state();
  out.set_requests(requests_);
  out.set_errors(errors_);
  out.mutable_latency_bins()->Add(latency_.begin(), latency_.end());
  out.mutable_prediction_bins()->Add(predictions_.begin(), predictions_.end());
  return out;
}

absl::StatusOr<ArmEvidence> ArmEvidence::FromProto(const v1::RolloutArm& arm) {
  auto perf = PerformanceAccumulator::FromProto(arm.performance());
  if (!perf.ok()) return perf.status();
  if (arm.latency_bins_size() != kLatencyBins ||
      arm.prediction_bins_size() != kShiftBins || arm.requests() < 0 ||
      arm.errors() < 0 || arm.errors() > arm.requests()) {
    return absl::DataLossError("rollout evidence: inconsistent arm");
  }
  ArmEvidence e(*std::move(perf));
  e.requests_ = arm.requests();
  e.errors_ = arm.errors();
  std::copy(arm.latency_bins().begin(), arm.latency_bins().end(),
            e.latency_.begin());
  std::copy(arm.prediction_bins().begin(), arm.prediction_bins().end(),
            e.predictions_.begin());
  return e;
}

double ArmEvidence::LatencyQuantile(double q) const {
  if (requests_ == 0) return NAN;
  const double want = q * requests_;
  double seen = 0;
  for (int i = 0; i < kLatencyBins; ++i) {
    seen += latency_[i];
    if (seen >= want) return LatencyEdge(i);
  }
  return LatencyEdge(kLatencyBins - 1);
}

double ArmEvidence::ShareSlowerThan(double seconds) const {
  if (requests_ == 0) return NAN;
  const int b = LatencyBin(seconds);
  double above = 0;
  for (int i = b + 1; i < kLatencyBins; ++i) above += latency_[i];
  if (b >= 1 && b < kLatencyBins - 1) {  // The part of b's bin above.
    const double lo = LatencyEdge(b - 1), hi = LatencyEdge(b);
    above += latency_[b] * std::clamp((hi - seconds) / (hi - lo), 0.0, 1.0);
  }
  return above / requests_;
}

Estimate ArmEvidence::ErrorRate() const {
  Estimate e;
  e.n = requests_;
  e.value = Proportion(errors_, requests_);
  if (requests_ > 0) e.variance = e.value * (1 - e.value) / requests_;
  return e;
}

namespace {

// AUC and DeLong's variance from the state's bins: V10 of a positive in
// bin i is the share of negatives below it (ties half), V01 of a negative
// the share of positives above it.
Estimate AucOf(const v1::PerformanceState& s) {
  Estimate e;
  e.n = static_cast<int64_t>(s.count());
  const int bins = s.positive_bins_size();
  if (bins == 0 || s.negative_bins_size() != bins) return e;
  double np = 0, nn = 0;
  for (int i = 0; i < bins; ++i) {
    np += static_cast<double>(s.positive_bins(i));
    nn += static_cast<double>(s.negative_bins(i));
  }
  if (np < 2 || nn < 2) return e;
  std::vector<double> v10(bins), v01(bins);
  double neg_below = 0, pos_above = 0;
  for (int i = 0; i < bins; ++i) {
    const double neg = static_cast<double>(s.negative_bins(i));
    v10[i] = (neg_below + 0.5 * neg) / nn;
    neg_below += neg;
  }
  for (int i = bins - 1; i >= 0; --i) {
    const double pos = static_cast<double>(s.positive_bins(i));
    v01[i] = (pos_above + 0.5 * pos) / np;
    pos_above += pos;
  }
  double auc = 0;
  for (int i = 0; i < bins; ++i)
    auc += static_cast<double>(s.positive_bins(i)) * v10[i];
  auc /= np;
  double s10 = 0, s01 = 0;
  for (int i = 0; i < bins; ++i) {
    s10 += static_cast<double>(s.positive_bins(i)) * (v10[i] - auc) *
           (v10[i] - auc);
    s01 += static_cast<double>(s.negative_bins(i)) * (v01[i] - auc) *
           (v01[i] - auc);
  }
  e.value = auc;
  e.variance = s10 / (np - 1) / np + s01 / (nn - 1) / nn;
  return e;
}

// The mean of a per-pair quantity and the variance of that mean, from its
// sum and sum of squares over n pairs.
Estimate MeanOf(double sum, double sum_squares, uint64_t count) {
  Estimate e;
  e.n = static_cast<int64_t>(count);
  if (count < 2) return e;
  const double n = static_cast<double>(count);
  e.value = sum / n;
  e.variance = std::max(0.0, sum_squares / n - e.value * e.value) / (n - 1);
  return e;
}

}  // namespace

Estimate MetricOf(const v1::PerformanceState& s, Metric metric) {
  switch (metric) {
    case Metric::kAuc:
      return AucOf(s);
    case Metric::kAccuracy: {
      Estimate e;
      e.n = static_cast<int64_t>(s.count());
      e.value = Proportion(static_cast<int64_t>(s.correct()), e.n);
      if (e.n > 0) e.variance = e.value * (1 - e.value) / e.n;
      return e;
    }
    case Metric::kLogLoss:
      return MeanOf(s.sum_log_loss(), s.sum_log_loss_squared(), s.count());
    case Metric::kRmse: {
      const Estimate mse = MeanOf(s.sum_squared_error(),
                                  s.sum_squared_error_squared(), s.count());
      Estimate e;
      e.n = mse.n;
      if (std::isnan(mse.value) || mse.value <= 0) return e;
      e.value = std::sqrt(mse.value);
      e.variance = mse.variance / (4 * mse.value);  // Delta method.
      return e;
    }
  }
  return {};
}

absl::Status CheckSpec(const AnalysisSpec& s) {
  if (!(s.confidence >= 0.5 && s.confidence < 1)) {
    return absl::InvalidArgumentError(
        StrCat("analysis.confidence: in [0.5, 1), got ", s.confidence));
  }
  if (!(s.max_regression > 0 && s.max_regression < 1e6)) {
    return absl::InvalidArgumentError(
        StrCat("analysis.max_regression: > 0, got ", s.max_regression));
  }
  if (s.min_actuals < 1) {
    return absl::InvalidArgumentError(
        StrCat("analysis.min_actuals: >= 1, got ", s.min_actuals));
  }
  if (!(s.max_latency_p99_ratio >= 1 && s.max_latency_p99_ratio <= 100)) {
    return absl::InvalidArgumentError(
        StrCat("analysis.max_latency_p99_ratio: 1..100, got ",
               s.max_latency_p99_ratio));
  }
  if (!(s.max_error_rate_delta > 0 && s.max_error_rate_delta < 1)) {
    return absl::InvalidArgumentError(
        StrCat("analysis.max_error_rate_delta: in (0, 1), got ",
               s.max_error_rate_delta));
  }
  return absl::OkStatus();
}

double MixtureHalfWidth(double v, double tau2, double alpha) {
  if (!(v > 0)) return 0;
  return std::sqrt(v * (v + tau2) / tau2 *
                   (2 * std::log(1 / alpha) + std::log((v + tau2) / v)));
}

namespace {

// The model's metric: canary - primary, oriented higher-is-better.
Criterion MetricCriterion(const ArmEvidence& canary, const ArmEvidence& primary,
                          const AnalysisSpec& s, double alpha) {
  const Estimate c = canary.MetricEstimate(s.metric),
                 p = primary.MetricEstimate(s.metric);
  const bool higher_is_better =
      s.metric == Metric::kAuc || s.metric == Metric::kAccuracy;
  const double sign = higher_is_better ? 1 : -1;
  const bool enough = c.n >= s.min_actuals && p.n >= s.min_actuals;
  Criterion out = Decide(MetricName(s.metric), sign * (c.value - p.value),
                         c.variance + p.variance, -s.max_regression,
                         s.max_regression, alpha, true, enough);
  if (!enough) {
    out.why = StrCat(c.n, " and ", p.n, " actuals (canary, primary); ",
                     s.min_actuals, " each needed");
  }
  return out;
}

// The canary's share of requests slower than ratio x the primary's p99,
// less the 1% a canary exactly at that bound would have.
Criterion LatencyCriterion(const ArmEvidence& canary,
                           const ArmEvidence& primary, const AnalysisSpec& s,
                           double alpha) {
  const double p99 = primary.LatencyQuantile(0.99);
  const double share = canary.ShareSlowerThan(s.max_latency_p99_ratio * p99);
  const double n = static_cast<double>(canary.requests());
  // At least the variance a share at the bound would have.
  const double v =
      std::max(share * (1 - share), kTail * (1 - kTail)) / std::max(n, 1.0);
  const bool enough =
      primary.requests() >= 1 / kTail && n >= 1 && !std::isnan(share);
  // Above the bound's 1%: worse.
  Criterion c = Decide("latency_p99", enough ? share - kTail : NAN, v, 0, kTail,
                       alpha, false, enough);
  if (!enough) {
    c.why = "not enough requests yet";
    return c;
  }
  c.why = StrCat(share * 100, "% of the canary's requests slower than ",
                 s.max_latency_p99_ratio, " x the primary's p99 (", p99 * 1e3,
                 " ms), against 1% at the bound");
  return c;
}

Criterion ErrorCriterion(const ArmEvidence& canary, const ArmEvidence& primary,
                         const AnalysisSpec& s, double alpha) {
  const auto c = canary.ErrorRate(), p = primary.ErrorRate();
  // At least the variance of a rate at the tolerance.
  const double tol = s.max_error_rate_delta, floor = tol * (1 - tol);
  const double v = (c.n > 0 ? std::max(c.variance * c.n, floor) / c.n : NAN) +
                   (p.n > 0 ? std::max(p.variance * p.n, floor) / p.n : NAN);
  return Decide("error_rate", c.value - p.value, v, tol, tol, alpha, false,
                c.n > 0 && p.n > 0);
}

}  // namespace

Analysis Analyze(const ArmEvidence& canary, const ArmEvidence& primary,
                 const AnalysisSpec& spec) {
  const double alpha = (1 - spec.confidence) / kCriteria;
  Analysis a;
  a.criteria = {MetricCriterion(canary, primary, spec, alpha),
                LatencyCriterion(canary, primary, spec, alpha),
                ErrorCriterion(canary, primary, spec, alpha)};
  a.prediction_shift_psi = Psi(canary.predictions(), primary.predictions());
  bool all_pass = true;
  for (const auto& c : a.criteria) {
    if (c.verdict == Verdict::kFail) {
      a.decision = Decision::kRollback;
      a.reason = StrCat(c.name, ": ", c.why);
      return a;
    }
    all_pass &= c.verdict == Verdict::kPass;
  }
  if (all_pass) {
    a.decision = Decision::kAdvance;
    a.reason = "every criterion within bounds";
  } else {
    for (const auto& c : a.criteria) {
      if (c.verdict != Verdict::kPass) {
        a.reason = StrCat(c.name, ": ", c.why);
        break;
      }
    }
  }
  return a;
}

absl::Status CheckPlan(const RolloutPlan& plan) {
  if (plan.steps.empty() || plan.steps.back() != 100) {
    return absl::InvalidArgumentError(
        "canary.steps: rising percentages ending at 100, e.g. [5, 25, 50, "
        "100]");
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const int s = plan.steps[i];
    if (s < 1 || s > 100 || (i > 0 && s <= plan.steps[i - 1])) {
      return absl::InvalidArgumentError(
          StrCat("canary.steps[", i, "]: ", s,
                 " must be in 1..100 and above the step before"));
    }
  }
  if (!(plan.interval_seconds >= 1)) {
    return absl::InvalidArgumentError(
        StrCat("canary.analysis.interval: at least 1s, got ",
               plan.interval_seconds, "s"));
  }
  if (auto s = CheckSpec(plan.analysis); !s.ok())
    return absl::InvalidArgumentError(StrCat("canary.", s.message()));
  return absl::OkStatus();
}

std::string ActionName(Action a) {
  switch (a) {
    case Action::kAdvance:
      return "advance";
    case Action::kPromote:
      return "promote";
    case Action::kRollback:
      return "rollback";
    case Action::kNone:
      break;
  }
  return "none";
}

RolloutState::RolloutState(RolloutPlan plan, double now_seconds, int step)
    : plan_(std::move(plan)), step_(step), step_started_(now_seconds) {}

absl::StatusOr<RolloutPlan> PlanFromProto(const v1::RolloutPlan& p) {
  RolloutPlan plan;
  if (p.steps_size() > 0) plan.steps.assign(p.steps().begin(), p.steps().end());
  if (!p.metric().empty()) {
    if (auto s = ParseMetric(p.metric(), &plan.analysis.metric); !s.ok())
      return s;
  }
  auto& a = plan.analysis;
  if (p.max_regression() != 0) a.max_regression = p.max_regression();
  if (p.min_actuals() != 0) a.min_actuals = p.min_actuals();
  if (p.max_latency_p99_ratio() != 0)
    a.max_latency_p99_ratio = p.max_latency_p99_ratio();
  if (p.max_error_rate_delta() != 0)
    a.max_error_rate_delta = p.max_error_rate_delta();
  if (p.interval_seconds() != 0) plan.interval_seconds = p.interval_seconds();
  if (p.confidence() != 0) a.confidence = p.confidence();
  if (auto s = CheckPlan(plan); !s.ok()) return s;
  return plan;
}

v1::RolloutPlan PlanToProto(const RolloutPlan& plan) {
  v1::RolloutPlan p;
  for (int s : plan.steps) p.add_steps(s);
  const auto& a = plan.analysis;
  p.set_metric(MetricName(a.metric));
  p.set_max_regression(a.max_regression);
  p.set_min_actuals(a.min_actuals);
  p.set_max_latency_p99_ratio(a.max_latency_p99_ratio);
  p.set_max_error_rate_delta(a.max_error_rate_delta);
  p.set_interval_seconds(plan.interval_seconds);
  p.set_confidence(a.confidence);
  return p;
}

Action RolloutState::Check(const Analysis& analysis, double now_seconds) {
  if (ended_) return Action::kNone;
  if (analysis.decision == Decision::kRollback) {
    ended_ = true;
    return Action::kRollback;
  }
  if (analysis.decision != Decision::kAdvance ||
      now_seconds - step_started_ < plan_.interval_seconds)
    return Action::kNone;
  if (step_ + 1 >= static_cast<int>(plan_.steps.size())) {
    ended_ = true;
    return Action::kPromote;
  }
  ++step_;
  step_started_ = now_seconds;
  return Action::kAdvance;
}

}  // namespace mlpipe::monitor::canary
