// Canary analysis: the statistics against known values, and simulated
// rollouts (synthetic traffic, actuals a check late) that must promote a
// better canary, roll back a worse or slower one before half the traffic,
// and in 200 A/A runs roll back at most 1 - confidence of the time.
#include "services/monitor/canary.h"

#include <cmath>
#include <cstdio>
#include <random>

#include "gtest/gtest.h"

namespace mlpipe::monitor::canary {
namespace {

ArmEvidence BinaryArm() { return ArmEvidence(v1::BINARY, {"0", "1"}); }

// A binary prediction P(positive) = p and its actual.
void AddBinary(ArmEvidence& e, double p, bool positive) {
  google::protobuf::Value actual;
  actual.set_string_value(positive ? "1" : "0");
  ASSERT_TRUE(e.AddActual({p}, p >= 0.5 ? "1" : "0", actual).ok());
}

TEST(CanaryTest, AucAndDeLongVarianceOnBinnedScores) {
  // Two positives (0.85, 0.95), three negatives (0.15, 0.55, 0.95): pairs
  // won 5 of 6, one tie (0.95): AUC (5 + 0.5) / 6... by V10 and V01.
  ArmEvidence e = BinaryArm();
  AddBinary(e, 0.851, true);
  AddBinary(e, 0.951, true);
  AddBinary(e, 0.151, false);
  AddBinary(e, 0.551, false);
  AddBinary(e, 0.9512, false);
  auto auc = e.MetricEstimate(Metric::kAuc);
  // Positive 0.851 beats 2 negatives; 0.951 beats 2 and ties 1 (same bin).
  EXPECT_NEAR(auc.value, (2 + 2.5) / 6.0, 1e-12);
  // DeLong: V10 = {2/3, 2.5/3}, V01 = {1, 1, 0.25}.
  const double a = auc.value;
  const double s10 =
      ((2 / 3.0 - a) * (2 / 3.0 - a) + (2.5 / 3 - a) * (2.5 / 3 - a)) / 1;
  const double s01 = ((1 - a) * (1 - a) * 2 + (0.25 - a) * (0.25 - a)) / 2;
  EXPECT_NEAR(auc.variance, s10 / 2 + s01 / 3, 1e-12);
}

TEST(CanaryTest, LossesAndTheirVariancesFromThePerformanceState) {
  // Log loss of the true class's probability, its mean and the variance of
  // the mean (sample variance / n).
  ArmEvidence e = BinaryArm();
  const std::vector<std::pair<double, bool>> rows = {
      {0.9, true}, {0.2, false}, {0.6, false}, {0.7, true}};
  std::vector<double> loss;
  for (auto [p, y] : rows) {
    AddBinary(e, p, y);
    loss.push_back(-std::log(y ? p : 1 - p));
  }
  double mean = 0, ss = 0;
  for (double l : loss) mean += l / loss.size();
  for (double l : loss) ss += (l - mean) * (l - mean);
  auto ll = e.MetricEstimate(Metric::kLogLoss);
  EXPECT_NEAR(ll.value, mean, 1e-12);
  EXPECT_NEAR(ll.variance, ss / (loss.size() - 1) / loss.size(), 1e-12);
  auto acc = e.MetricEstimate(Metric::kAccuracy);
  EXPECT_NEAR(acc.value, 0.75, 1e-12);  // 0.6 called positive: wrong.
  EXPECT_NEAR(acc.variance, 0.75 * 0.25 / 4, 1e-12);

  // RMSE by the delta method from the squared errors' moments.
  ArmEvidence r(v1::REGRESSION, {});
  const std::vector<std::pair<double, double>> pairs = {
      {1.0, 1.5}, {2.0, 1.0}, {3.0, 3.25}};
  std::vector<double> se;
  for (auto [pred, y] : pairs) {
    google::protobuf::Value v;
    v.set_number_value(y);
    ASSERT_TRUE(r.AddActual({pred}, "", v).ok());
    se.push_back((pred - y) * (pred - y));
  }
  const double mse = (se[0] + se[1] + se[2]) / 3;
  double var = 0;
  for (double x : se) var += (x - mse) * (x - mse);
  var /= 2 * 3;
  auto rmse = r.MetricEstimate(Metric::kRmse);
  EXPECT_NEAR(rmse.value, std::sqrt(mse), 1e-12);
  EXPECT_NEAR(rmse.variance, var / (4 * mse), 1e-12);
}

TEST(CanaryTest, MixtureBoundaryIsWiderThanFixedHorizonAndShrinks) {
  const double alpha = 0.05;
  for (double n : {100.0, 1e4, 1e6}) {
    const double v = 0.25 / n;
    const double w = MixtureHalfWidth(v, 0.01 * 0.01, alpha);
    EXPECT_GT(w, 1.96 * std::sqrt(v)) << n;  // The price of peeking.
    // Wide while the variance is far above tau^2 (no early decisions on
    // little evidence); then within a few standard errors.
    if (v <= 1e-4) {
      EXPECT_LT(w, 4 * std::sqrt(v)) << n;
    }
  }
  EXPECT_LT(MixtureHalfWidth(0.25 / 1e6, 1e-4, alpha),
            MixtureHalfWidth(0.25 / 1e4, 1e-4, alpha));
}

TEST(CanaryTest, PlansAndSpecsAreChecked) {
  RolloutPlan p;
  EXPECT_TRUE(CheckPlan(p).ok());
  p.steps = {5, 50};
  EXPECT_NE(CheckPlan(p).message().find("canary.steps"), std::string::npos);
  p.steps = {50, 25, 100};
  EXPECT_NE(CheckPlan(p).message().find("canary.steps[1]"), std::string::npos);
  p.steps = {5, 100};
  p.analysis.confidence = 1;
  EXPECT_NE(CheckPlan(p).message().find("analysis.confidence"),
            std::string::npos);
  Metric m;
  EXPECT_FALSE(ParseMetric("f1", &m).ok());
}

// Synthetic traffic: binormal scores (negatives N(0, 1), positives N(mu, 1):
// AUC = Phi(mu / sqrt 2)), 30% positives, log-normal latencies, rare errors.
struct Arm {
  double auc = 0.80;
  double latency_factor = 1;
  double error_rate = 0.0005;
};

struct Outcome {
  Action action = Action::kNone;
  int share = 0;      // When it ended.
  int intervals = 0;  // Checks run.
  std::string reason;
  // The metric's interval left out the true difference at some check.
  bool missed_truth = false;
};

class Simulation {
 public:
  Simulation(Arm canary, Arm primary, int requests_per_interval, uint64_t seed)
      : arms_{primary, canary},
        mu_{std::sqrt(2.0) * Probit(primary.auc),
            std::sqrt(2.0) * Probit(canary.auc)},
        n_(requests_per_interval),
        rng_(seed) {}

  // `truth`: the metric's true difference (canary - primary).
  Outcome Run(const RolloutPlan& plan, int max_intervals, double truth = 0) {
    RolloutState state(plan, 0);
    ArmEvidence evidence[2] = {BinaryArm(), BinaryArm()};
    std::vector<Pending> late;  // Predictions whose actuals come next time.
    Outcome out;
    for (int t = 1; t <= max_intervals && !state.ended(); ++t) {
      for (const auto& p : late)
        AddBinary(evidence[p.arm], p.score, p.positive);
      late.clear();
      Traffic(state.share(), evidence, &late);
      const Analysis a = Analyze(evidence[1], evidence[0], plan.analysis);
      const Criterion& m = a.criteria[0];
      if (!std::isnan(m.lower) && (m.lower > truth || m.upper < truth))
        out.missed_truth = true;
      const Action act = state.Check(a, t * plan.interval_seconds);
      out.intervals = t;
      if (act == Action::kPromote || act == Action::kRollback) {
        out.action = act;
        out.share = state.share();
        out.reason = a.reason;
      }
    }
    if (out.action == Action::kNone) out.share = state.share();
    return out;
  }

 private:
  struct Pending {
    int arm;
    double score;
    bool positive;
  };

  void Traffic(int share, ArmEvidence* evidence, std::vector<Pending>* late) {
    std::uniform_real_distribution<double> u(0, 1);
    std::normal_distribution<double> g(0, 1);
    for (int i = 0; i < n_; ++i) {
      const int arm = u(rng_) * 100 < share ? 1 : 0;
      const Arm& a = arms_[arm];
      const double latency = 0.005 * a.latency_factor * std::exp(0.3 * g(rng_));
      const bool error = u(rng_) < a.error_rate;
      evidence[arm].AddRequest(latency, error);
      if (error) continue;
      const bool positive = u(rng_) < 0.3;
      const double mu = mu_[arm];
      const double s = g(rng_) + (positive ? mu : 0);
      late->push_back({arm, 1 / (1 + std::exp(-(s - mu / 2))), positive});
    }
  }

  static double Probit(double p) {  // Bisection on erfc: test-only.
    double lo = -8, hi = 8;
    for (int i = 0; i < 100; ++i) {
      const double mid = (lo + hi) / 2;
      (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
    }
    return (lo + hi) / 2;
  }

  Arm arms_[2];
  double mu_[2];  // Positives' mean score: AUC = Phi(mu / sqrt 2).
  int n_;
  std::mt19937_64 rng_;
};

RolloutPlan Plan() {
  RolloutPlan p;  // steps 5, 25, 50, 100; auc; max_regression 0.01.
  p.interval_seconds = 600;
  return p;
}

TEST(CanaryRolloutTest, ABetterCanaryIsPromoted) {
  Simulation sim({.auc = 0.82}, {.auc = 0.80}, 40000, 1);
  Outcome o = sim.Run(Plan(), 60);
  std::printf("AUC +0.02: %s after %d checks\n", ActionName(o.action).c_str(),
              o.intervals);
  EXPECT_EQ(o.action, Action::kPromote) << o.reason;
}

TEST(CanaryRolloutTest, AWorseCanaryIsRolledBackBeforeHalfTheTraffic) {
  Simulation sim({.auc = 0.78}, {.auc = 0.80}, 40000, 2);
  Outcome o = sim.Run(Plan(), 60);
  std::printf("AUC -0.02: %s at %d%% after %d checks: %s\n",
              ActionName(o.action).c_str(), o.share, o.intervals,
              o.reason.c_str());
  EXPECT_EQ(o.action, Action::kRollback);
  EXPECT_LT(o.share, 50);
  EXPECT_EQ(o.reason.rfind("auc:", 0), 0u) << o.reason;
}

TEST(CanaryRolloutTest, ASlowerCanaryIsRolledBackOnLatencyAlone) {
  Simulation sim({.latency_factor = 2}, {}, 40000, 3);
  Outcome o = sim.Run(Plan(), 60);
  std::printf("2x latency: %s at %d%% after %d checks: %s\n",
              ActionName(o.action).c_str(), o.share, o.intervals,
              o.reason.c_str());
  EXPECT_EQ(o.action, Action::kRollback);
  EXPECT_EQ(o.reason.rfind("latency_p99:", 0), 0u) << o.reason;
}

TEST(CanaryRolloutTest, AaRunsRollBackAtMostOneMinusConfidenceOfTheTime) {
  // And the reason it holds: the AUC difference's interval covers the true
  // difference (0) at every check at once in at least 1 - alpha of the
  // runs (alpha = 5% / 3 for the metric), though checked every interval; a
  // fixed-horizon interval re-checked so often would not.
  constexpr int kRuns = 200;
  int rolled_back = 0, promoted = 0, missed = 0;
  for (int run = 0; run < kRuns; ++run) {
    Simulation sim({}, {}, 10000, 1000 + run);
    Outcome o = sim.Run(Plan(), 40);
    rolled_back += o.action == Action::kRollback;
    promoted += o.action == Action::kPromote;
    missed += o.missed_truth;
  }
  const double rate = static_cast<double>(rolled_back) / kRuns;
  std::printf(
      "A/A: %d of %d runs rolled back (%.1f%%), %d promoted; the AUC "
      "interval missed the true difference at some check in %d runs\n",
      rolled_back, kRuns, rate * 100, promoted, missed);
  EXPECT_LE(rate, 1 - Plan().analysis.confidence);
  EXPECT_LE(missed, kRuns * (1 - Plan().analysis.confidence) / 3 + 4);
}

}  // namespace
}  // namespace mlpipe::monitor::canary
