// Statistical canary analysis (gRPC-free): whether a canary version is as
// good as the primary it would replace, judged from what both showed over
// the same windows, with a false-alarm rate that holds however often it is
// checked.
//
// Evidence per arm (ArmEvidence, bounded, mergeable): requests, errors and a
// latency histogram; for predictions whose actuals arrived, the monitor's
// performance state (performance.h: P(positive) in 1,000 bins by class,
// correct counts, loss moments); a histogram of the predictions (shift).
//
// Each criterion is a difference d between the arms with a variance V. The
// arms see different requests (traffic is split), so V is the sum of each
// arm's:
//   auc       DeLong et al. (1988)'s variance of each arm's AUC, from the
//             histograms (a positive and a negative in one bin tie)
//   accuracy  p (1 - p) / n per arm
//   logloss   the per-row loss's sample variance / n per arm
//   rmse      the mean squared error's, by the delta method
//   errors    the error rate's p (1 - p) / n per arm
//   latency   the canary's share of requests slower than
//             max_latency_p99_ratio x the primary's p99, against the 1% a
//             canary exactly at that bound would have
// decided with an always-valid confidence sequence, the normal-mixture
// boundary (Robbins 1970; Johari, Koomen, Pekelis & Walsh 2017, "Always
// Valid Inference: Continuous Monitoring of A/B Tests"; Howard, Ramdas,
// McAuliffe & Sekhon 2021, "Time-uniform, nonparametric, nonasymptotic
// confidence sequences", eq. (14)):
//   d ± sqrt(V (V + τ²) / τ² · (2 log(1/α) + log((V + τ²) / V)))
// covers the true difference at every check at once with probability at
// least 1 - α (exactly for Gaussian increments; asymptotically with the
// plug-in variance, Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas 2021,
// "Time-uniform central limit theory and asymptotic confidence sequences").
// So checking every interval does not inflate false alarms, as re-checking
// a fixed-horizon p-value does. τ is the criterion's tolerance (the
// boundary is tightest for effects of that size). Each of the three
// criteria that can roll back gets α = (1 - confidence) / 3, so a canary no
// worse than allowed is rolled back with probability at most 1 -
// confidence (union bound).
//
// A criterion FAILs when its interval lies wholly beyond the tolerance (the
// canary is worse than allowed, with confidence), PASSes when it lies wholly
// within, and HOLDs otherwise. The decision: ROLLBACK when any fails;
// ADVANCE when all pass (the metric with min_actuals actuals on each arm);
// HOLD otherwise.
#ifndef MLPIPE_SERVICES_MONITOR_CANARY_H_
#define MLPIPE_SERVICES_MONITOR_CANARY_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "google/protobuf/struct.pb.h"
#include "mlpipe/v1/monitor.pb.h"
#include "services/monitor/performance.h"

namespace mlpipe::monitor::canary {

inline constexpr int kShiftBins = 20;  // Predictions, for their shift.
// Latency: 20 bins a decade from 1 µs to 100 s, one more each side.
inline constexpr int kLatencyBins = 8 * 20 + 2;

// What a model's metric is and which way is better.
enum class Metric { kAuc, kAccuracy, kLogLoss, kRmse };
// "auc", "accuracy", "logloss", "rmse"; INVALID_ARGUMENT otherwise.
absl::Status ParseMetric(const std::string& name, Metric* out);
std::string MetricName(Metric m);

// An estimate of one arm's metric and its variance; NaN when there is not
// enough to say (an AUC needs both classes).
struct Estimate {
  double value = NAN, variance = NAN;
  int64_t n = 0;
};
// A model version's metric from its performance state (performance.h: the
// monitor's per-window state, merged over the rollout's windows): AUC with
// DeLong's variance on its 1,000 bins, accuracy, mean log loss, RMSE.
Estimate MetricOf(const v1::PerformanceState& s, Metric metric);

// One arm's evidence: its performance (performance.h) and its requests.
// Not thread-safe.
class ArmEvidence {
 public:
  // `classes` as PerformanceAccumulator's.
  ArmEvidence(v1::Task task, std::vector<std::string> classes);
  void AddRequest(double latency_seconds, bool error);
  // A prediction (`scores` as Model::Predict gave them, `label` the
  // predicted class) and the actual that arrived for it; INVALID_ARGUMENT
  // as PerformanceAccumulator::Add.
  absl::Status AddActual(const std::vector<double>& scores,
                         const std::string& label,
                         const google::protobuf::Value& actual);
  absl::Status Merge(const ArmEvidence& other);
  v1::RolloutArm ToProto() const;
  // DATA_LOSS when the stored evidence is inconsistent.
  static absl::StatusOr<ArmEvidence> FromProto(const v1::RolloutArm& arm);

  int64_t requests() const { return requests_; }
  int64_t errors() const { return errors_; }
  int64_t actuals() const { return perf_.state().count(); }
  const PerformanceAccumulator& performance() const { return perf_; }
  // The latency below which `q` of the requests were (from the histogram:
  // a bin's upper edge); NaN without requests.
  double LatencyQuantile(double q) const;
  // The share of requests slower than `seconds` (within a bin: linear).
  double ShareSlowerThan(double seconds) const;
  Estimate MetricEstimate(Metric metric) const {
    return MetricOf(perf_.state(), metric);
  }
  Estimate ErrorRate() const;
  // The predictions' histogram: P(positive), or the top class's
  // probability (for the shift between arms).
  const std::array<double, kShiftBins>& predictions() const {
    return predictions_;
  }

 private:
  explicit ArmEvidence(PerformanceAccumulator perf) : perf_(std::move(perf)) {}
  PerformanceAccumulator perf_;
  int64_t requests_ = 0, errors_ = 0;
  std::array<double, kLatencyBins> latency_{};
  std::array<double, kShiftBins> predictions_{};
};

struct AnalysisSpec {
  Metric metric = Metric::kAuc;
  double max_regression = 0.01;  // Of the metric, in its units.
  int64_t min_actuals = 500;     // Per arm, before the metric decides.
  double max_latency_p99_ratio = 1.2;
  double max_error_rate_delta = 0.001;
  double confidence = 0.95;
};
// INVALID_ARGUMENT naming the field ("analysis.confidence: ...").
absl::Status CheckSpec(const AnalysisSpec& spec);

enum class Verdict { kHold, kPass, kFail };
enum class Decision { kHold, kAdvance, kRollback };
std::string VerdictName(Verdict v);
std::string DecisionName(Decision d);

struct Criterion {
  std::string name;  // "auc", "latency_p99", "error_rate".
  // canary - primary (latency: the canary's share over the bound - 1%),
  // oriented so that higher is worse for errors and latency and better
  // for the metric, as its name says; with its interval.
  double estimate = NAN, lower = NAN, upper = NAN;
  double bound = NAN;  // The tolerance the interval is compared with.
  Verdict verdict = Verdict::kHold;
  std::string why;  // One sentence.
};

struct Analysis {
  Decision decision = Decision::kHold;
  std::vector<Criterion> criteria;  // metric, latency_p99, error_rate.
  // Population stability index of the canary's predictions against the
  // primary's (reported; not a criterion).
  double prediction_shift_psi = NAN;
  std::string reason;  // Why the decision, one sentence.
};

// Half-width of the normal-mixture confidence sequence (above) for an
// estimate of variance `v`, mixing variance `tau2`, level `alpha`.
double MixtureHalfWidth(double v, double tau2, double alpha);

Analysis Analyze(const ArmEvidence& canary, const ArmEvidence& primary,
                 const AnalysisSpec& spec);

// A rollout plan: the canary's traffic shares in percent, rising, the last
// 100 (promotion); the analysis; how long each step holds at least (its
// share sees that much traffic before it advances).
struct RolloutPlan {
  std::vector<int> steps = {5, 25, 50, 100};
  AnalysisSpec analysis;
  double interval_seconds = 600;
};
// INVALID_ARGUMENT naming the field ("canary.steps: ...").
absl::Status CheckPlan(const RolloutPlan& plan);
// The proto's plan with its defaults, checked (CheckPlan).
absl::StatusOr<RolloutPlan> PlanFromProto(const v1::RolloutPlan& plan);
// Every field set (the defaults written out).
v1::RolloutPlan PlanToProto(const RolloutPlan& plan);

enum class Action { kNone, kAdvance, kPromote, kRollback };
std::string ActionName(Action a);

// Where one rollout stands. Not thread-safe.
class RolloutState {
 public:
  // REQUIRES: CheckPlan(plan) is OK; step a valid index.
  RolloutState(RolloutPlan plan, double now_seconds, int step = 0);
  // The canary's share now, in percent.
  int share() const { return plan_.steps[step_]; }
  int step() const { return step_; }
  bool ended() const { return ended_; }
  double step_started() const { return step_started_; }
  // A check's analysis: roll back on ROLLBACK; on ADVANCE once the step has
  // held an interval, the next step (promotion after the last); else
  // nothing. Nothing once ended.
  Action Check(const Analysis& analysis, double now_seconds);

 private:
  RolloutPlan plan_;
  int step_ = 0;
  double step_started_;
  bool ended_ = false;
};

}  // namespace mlpipe::monitor::canary

#endif  // MLPIPE_SERVICES_MONITOR_CANARY_H_
