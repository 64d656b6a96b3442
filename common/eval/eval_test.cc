// common/eval against scikit-learn (Debian's /usr/bin/python3): the same
// fixed predictions go to both, and every metric must agree within 1e-9.
#include <cstdio>
#include <random>

#include "common/eval/gate.h"
#include "common/eval/metrics.h"
#include "common/eval/slices.h"
#include "common/features/test_data.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::eval {
namespace {

using ::testing::HasSubstr;
constexpr double kTol = 1e-9;

// Writes y then the scores (width per row), full precision.
std::string WriteRows(const testing::TempDir& dir, const Predictions& p,
                      const std::vector<double>* extra = nullptr,
                      size_t extra_cols = 0) {
  std::string path = dir.path() + "/rows.csv";
  std::FILE* f = std::fopen(path.c_str(), "w");
  for (size_t i = 0; i < p.rows(); ++i) {
    std::fprintf(f, "%.17g", p.y.empty() ? 0.0 : p.y[i]);
    for (int c = 0; c < p.width; ++c)
      std::fprintf(f, ",%.17g", p.scores[i * p.width + c]);
    for (size_t c = 0; c < extra_cols; ++c)
      std::fprintf(f, ",%.17g", (*extra)[i * extra_cols + c]);
    std::fprintf(f, "\n");
  }
  std::fclose(f);
  return path;
}

google::protobuf::Struct Reference(const std::string& path,
                                   const std::string& script) {
  return features::testdata::PythonJson(
      "import sys, json, warnings\nimport numpy as np\n"
      "warnings.filterwarnings('ignore')\n"
      "d = np.loadtxt(sys.argv[2], delimiter=',', ndmin=2)\n"
      "y = d[:, 0]\n" +
          script,
      {path});
}

double Number(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  EXPECT_NE(it, s.fields().end()) << key;
  return it == s.fields().end() ? NAN : it->second.number_value();
}

std::vector<double> List(const google::protobuf::Struct& s,
                         const std::string& key) {
  std::vector<double> out;
  auto it = s.fields().find(key);
  EXPECT_NE(it, s.fields().end()) << key;
  if (it == s.fields().end()) return out;
  for (const auto& v : it->second.list_value().values())
    out.push_back(v.number_value());
  return out;
}

template <typename Repeated>
void ExpectNear(const Repeated& ours, const std::vector<double>& theirs,
                const std::string& what) {
  ASSERT_EQ(static_cast<size_t>(ours.size()), theirs.size()) << what;
  for (size_t i = 0; i < theirs.size(); ++i)
    EXPECT_NEAR(ours[i], theirs[i], kTol) << what << " [" << i << "]";
}

// Scores rounded to 0.01, so many rows tie.
Predictions Binary(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Predictions p;
  p.task = v1::BINARY;
  p.classes = {"no", "yes"};
  for (size_t i = 0; i < n; ++i) {
    double y = u(rng) < 0.3 ? 1 : 0;
    p.y.push_back(y);
    p.scores.push_back(std::round((0.35 * y + 0.65 * u(rng)) * 100) / 100);
  }
  return p;
}

TEST(EvalMetricsTest, BinaryMatchesScikitLearn) {
  Predictions p = Binary(3000, 7);
  Options o;
  o.curve_points = 1 << 20;  // Every point, to compare the curves whole.
  auto m = Evaluate(p, o);
  ASSERT_TRUE(m.ok()) << m.status();
  testing::TempDir dir;
  auto ref = Reference(WriteRows(dir, p), R"(
from sklearn import metrics as M
from sklearn.calibration import calibration_curve
s = d[:, 1]
h = (s >= 0.5).astype(float)
fpr, tpr, thr = M.roc_curve(y, s, drop_intermediate=False)
pr, rc, pthr = M.precision_recall_curve(y, s)
ct, cp = calibration_curve(y, s, n_bins=10, strategy='uniform')
best, best_t = -1, None
for t in sorted(set(s), reverse=True):
    f = M.f1_score(y, (s >= t).astype(float))
    if f > best: best, best_t = f, t
print(json.dumps({
  'auc': M.roc_auc_score(y, s), 'pr_auc': M.average_precision_score(y, s),
  'logloss': M.log_loss(y, s), 'brier': M.brier_score_loss(y, s),
  'accuracy': M.accuracy_score(y, h), 'precision': M.precision_score(y, h),
  'recall': M.recall_score(y, h), 'f1': M.f1_score(y, h),
  'confusion': M.confusion_matrix(y, h).ravel().tolist(),
  'fpr': fpr.tolist(), 'tpr': tpr.tolist(), 'thr': thr.tolist(),
  'precision_curve': pr.tolist(), 'recall_curve': rc.tolist(),
  'pr_thr': pthr.tolist(), 'cal_true': ct.tolist(), 'cal_pred': cp.tolist(),
  'chosen': best_t, 'chosen_f1': best}))
)");
  for (const char* name : {"auc", "pr_auc", "logloss", "brier", "accuracy",
                           "precision", "recall", "f1"}) {
    EXPECT_NEAR(Find(m->metrics(), name), Number(ref, name), kTol) << name;
  }
  ExpectNear(m->at_threshold().confusion().counts(), List(ref, "confusion"),
             "confusion");
  EXPECT_THAT(m->at_threshold().confusion().labels(),
              ::testing::ElementsAre("no", "yes"));
  ExpectNear(m->roc().x(), List(ref, "fpr"), "roc fpr");
  ExpectNear(m->roc().y(), List(ref, "tpr"), "roc tpr");
  ExpectNear(m->roc().thresholds(), List(ref, "thr"), "roc thresholds");
  // The same order as scikit-learn's: thresholds rising, recall falling,
  // then (recall 0, precision 1), which has no threshold.
  ExpectNear(m->pr().y(), List(ref, "precision_curve"), "pr precision");
  ExpectNear(m->pr().x(), List(ref, "recall_curve"), "pr recall");
  EXPECT_TRUE(std::isnan(m->pr().thresholds(m->pr().thresholds_size() - 1)));
  ExpectNear(std::vector<double>(m->pr().thresholds().begin(),
                                 m->pr().thresholds().end() - 1),
             List(ref, "pr_thr"), "pr thresholds");
  std::vector<double> cal_true, cal_pred;
  for (const auto& b : m->calibration()) {
    cal_true.push_back(b.fraction_positive());
    cal_pred.push_back(b.mean_predicted());
  }
  ExpectNear(cal_true, List(ref, "cal_true"), "calibration true");
  ExpectNear(cal_pred, List(ref, "cal_pred"), "calibration predicted");
  EXPECT_EQ(m->chosen().criterion(), "f1");
  EXPECT_NEAR(m->chosen().threshold(), Number(ref, "chosen"), kTol);
  EXPECT_NEAR(m->chosen().f1(), Number(ref, "chosen_f1"), kTol);
  // The headline's interval: around the estimate, repeatable by seed.
  const auto& ci = m->interval();
  EXPECT_EQ(ci.metric(), "auc");
  EXPECT_LT(ci.low(), Number(ref, "auc"));
  EXPECT_GT(ci.high(), Number(ref, "auc"));
  EXPECT_LT(ci.high() - ci.low(), 0.1);
  auto again = Evaluate(p, o);
  EXPECT_EQ(again->interval().low(), ci.low());
  Options threaded = o;  // Resamples on two threads: the same interval.
  threaded.threads = 2;
  auto parallel = Evaluate(p, threaded);
  EXPECT_EQ(parallel->interval().low(), ci.low());
  EXPECT_EQ(parallel->interval().high(), ci.high());
  o.seed = 2;
  EXPECT_NE(Evaluate(p, o)->interval().low(), ci.low());
  // Thinned curves keep both ends.
  o.curve_points = 50;
  auto thin = Evaluate(p, o);
  EXPECT_EQ(thin->roc().x_size(), 50);
  EXPECT_EQ(thin->roc().x(0), 0);
  EXPECT_EQ(thin->roc().x(49), 1);
}

TEST(EvalMetricsTest, MulticlassMatchesScikitLearn) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  Predictions p;
  p.task = v1::MULTICLASS;
  p.width = 3;
  p.classes = {"Adelie", "Chinstrap", "Gentoo"};
  for (int i = 0; i < 1500; ++i) {
    int y = static_cast<int>(u(rng) * 3);
    double z[3], sum = 0;
    for (int c = 0; c < 3; ++c) sum += z[c] = std::exp(2 * u(rng) + (c == y));
    p.y.push_back(y);
    for (double v : z) p.scores.push_back(v / sum);
  }
  auto m = Evaluate(p, {});
  ASSERT_TRUE(m.ok()) << m.status();
  testing::TempDir dir;
  auto ref = Reference(WriteRows(dir, p), R"(
from sklearn import metrics as M
P = d[:, 1:]
h = P.argmax(axis=1).astype(float)
pr, rc, f1, sup = M.precision_recall_fscore_support(y, h)
print(json.dumps({
  'accuracy': M.accuracy_score(y, h), 'logloss': M.log_loss(y, P, labels=[0, 1, 2]),
  'macro_f1': M.f1_score(y, h, average='macro'),
  'micro_f1': M.f1_score(y, h, average='micro'),
  'macro_precision': M.precision_score(y, h, average='macro'),
  'macro_recall': M.recall_score(y, h, average='macro'),
  'confusion': M.confusion_matrix(y, h).ravel().tolist(),
  'precision': pr.tolist(), 'recall': rc.tolist(), 'f1': f1.tolist(),
  'support': sup.tolist()}))
)");
  for (const char* name : {"accuracy", "logloss", "macro_f1", "micro_f1",
                           "macro_precision", "macro_recall"}) {
    EXPECT_NEAR(Find(m->metrics(), name), Number(ref, name), kTol) << name;
  }
  ExpectNear(m->confusion().counts(), List(ref, "confusion"), "confusion");
  std::vector<double> precision, recall, f1, support;
  for (const auto& c : m->classes()) {
    precision.push_back(c.precision());
    recall.push_back(c.recall());
    f1.push_back(c.f1());
    support.push_back(c.support());
  }
  ExpectNear(precision, List(ref, "precision"), "precision");
  ExpectNear(recall, List(ref, "recall"), "recall");
  ExpectNear(f1, List(ref, "f1"), "f1");
  ExpectNear(support, List(ref, "support"), "support");
  EXPECT_EQ(m->classes(2).label(), "Gentoo");
}

TEST(EvalMetricsTest, RegressionMatchesScikitLearn) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> g(0, 1);
  Predictions p;
  p.task = v1::REGRESSION;
  for (int i = 0; i < 2000; ++i) {
    double y = 100 + 30 * g(rng);
    p.y.push_back(y);
    p.scores.push_back(y + 8 * g(rng) + 1);
  }
  auto m = Evaluate(p, {});
  ASSERT_TRUE(m.ok()) << m.status();
  testing::TempDir dir;
  auto ref = Reference(WriteRows(dir, p), R"(
from sklearn import metrics as M
s = d[:, 1]
print(json.dumps({
  'rmse': M.mean_squared_error(y, s) ** 0.5, 'mae': M.mean_absolute_error(y, s),
  'r2': M.r2_score(y, s), 'mape': M.mean_absolute_percentage_error(y, s),
  'quantiles': np.percentile(y - s, [5, 25, 50, 75, 95]).tolist()}))
)");
  for (const char* name : {"rmse", "mae", "r2", "mape"}) {
    EXPECT_NEAR(Find(m->metrics(), name), Number(ref, name), kTol) << name;
  }
  std::vector<double> q;
  for (const auto& r : m->residual_quantiles()) q.push_back(r.value());
  ExpectNear(q, List(ref, "quantiles"), "residual quantiles");
  EXPECT_EQ(m->interval().metric(), "rmse");
  EXPECT_LT(m->interval().low(), Number(ref, "rmse"));
  EXPECT_GT(m->interval().high(), Number(ref, "rmse"));
}

TEST(EvalMetricsTest, ClusteringMatchesScikitLearn) {
  std::mt19937_64 rng(9);
  std::normal_distribution<double> g(0, 1);
  const std::vector<double> centroids = {0, 0, 0, 5, 5, 0, 0, 5, 5};
  Predictions p;
  p.task = v1::CLUSTERING;
  p.centroids = centroids;
  std::vector<double> x;
  for (int i = 0; i < 600; ++i) {
    int c = i % 3;
    for (int j = 0; j < 3; ++j)
      x.push_back(centroids[c * 3 + j] + 1.5 * g(rng));
    // The nearest centroid, as a fitted k-means assigns.
    int best = 0;
    double best_d = INFINITY;
    for (int k = 0; k < 3; ++k) {
      double dist = 0;
      for (int j = 0; j < 3; ++j) {
        double v = x[i * 3 + j] - centroids[k * 3 + j];
        dist += v * v;
      }
      if (dist < best_d) best_d = dist, best = k;
    }
    p.scores.push_back(best);
  }
  p.x = ml::MatrixView(x.data(), 600, 3);
  auto m = Evaluate(p, {});
  ASSERT_TRUE(m.ok()) << m.status();
  testing::TempDir dir;
  auto ref = Reference(WriteRows(dir, p, &x, 3), R"(
from sklearn import metrics as M
labels, X = d[:, 1].astype(int), d[:, 2:]
C = np.array([[0, 0, 0], [5, 5, 0], [0, 5, 5]], dtype=float)
print(json.dumps({'inertia': float(((X - C[labels]) ** 2).sum()),
                  'silhouette': M.silhouette_score(X, labels)}))
)");
  EXPECT_NEAR(Find(m->metrics(), "inertia"), Number(ref, "inertia"), 1e-7);
  EXPECT_NEAR(Find(m->metrics(), "silhouette"), Number(ref, "silhouette"),
              kTol);
}

TEST(EvalMetricsTest, AucCountsTiesOneHalf) {
  // roc_auc_score([0, 0, 1, 1, 1, 0], [0.1, 0.4, 0.4, 0.8, 0.4, 0.9]) = 5/9
  Predictions p;
  p.task = v1::BINARY;
  p.y = {0, 0, 1, 1, 1, 0};
  p.scores = {0.1, 0.4, 0.4, 0.8, 0.4, 0.9};
  EXPECT_DOUBLE_EQ(Find(Scalars(p, {}, nullptr, nullptr), "auc"), 5.0 / 9);
  // Weights count rows that often: row 0 twice is as if it were repeated.
  std::vector<double> w = {2, 1, 1, 1, 1, 1};
  Predictions q = p;
  q.y.push_back(0);
  q.scores.push_back(0.1);
  EXPECT_DOUBLE_EQ(Find(Scalars(p, {}, nullptr, &w), "auc"),
                   Find(Scalars(q, {}, nullptr, nullptr), "auc"));
  EXPECT_DOUBLE_EQ(Find(Scalars(p, {}, nullptr, &w), "logloss"),
                   Find(Scalars(q, {}, nullptr, nullptr), "logloss"));
}

TEST(EvalMetricsTest, BadPredictionsAreNamed) {
  Predictions p = Binary(10, 1);
  p.scores[3] = NAN;
  EXPECT_THAT(Evaluate(p, {}).status().ToString(),
              HasSubstr("scores: row 3 has a non-finite value"));
  p = Binary(10, 1);
  p.scores[4] = 1.5;
  EXPECT_THAT(Evaluate(p, {}).status().ToString(),
              HasSubstr("scores: row 4 has probability 1.5"));
  p = Binary(10, 1);
  p.y[2] = 2;
  EXPECT_THAT(Evaluate(p, {}).status().ToString(),
              HasSubstr("labels: row 2 has 2, not a class index below 2"));
  p = Binary(10, 1);
  p.y.pop_back();
  EXPECT_THAT(Evaluate(p, {}).status().ToString(),
              HasSubstr("labels: 9 for 10 rows"));
  p = Binary(10, 1);
  Options o;
  o.headline = "rmse";
  EXPECT_THAT(Evaluate(p, o).status().ToString(),
              HasSubstr("headline: no metric \"rmse\""));
  // One class only: AUC (the headline) is undefined, reported as NaN, not
  // an error; its interval is NaN too.
  p = Binary(10, 1);
  std::fill(p.y.begin(), p.y.end(), 0.0);
  auto m = Evaluate(p, {});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(std::isnan(Find(m->metrics(), "auc")));
  EXPECT_TRUE(std::isnan(m->interval().low()));
  EXPECT_FALSE(std::isnan(Find(m->metrics(), "logloss")));
}

TEST(EvalSlicesTest, PerValueAndCrossedWithTheGap) {
  // Group a is predicted perfectly, group b at random-ish, c has 3 rows.
  Predictions p;
  p.task = v1::BINARY;
  SliceColumn group{"group", {}}, home{"home", {}};
  for (int i = 0; i < 200; ++i) {
    double y = i % 2;
    p.y.push_back(y);
    std::string g = i < 100 ? "a" : (i < 197 ? "b" : "c");
    double s = g == "a" ? 0.2 + 0.6 * y : ((i * 37) % 100) / 100.0;
    p.scores.push_back(s);
    group.values.push_back(g);
    home.values.push_back(i % 4 < 2 ? "own" : "rent");
  }
  Options o;
  auto r = Slice(p, o, {group, home}, {{"group"}, {"group", "home"}}, 10);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->slices.size(), 3u + 6u);
  EXPECT_EQ(r->slices[0].key(0).value(), "a");
  EXPECT_EQ(r->slices[0].rows(), 100);
  EXPECT_DOUBLE_EQ(Find(r->slices[0].metrics(), "auc"), 1.0);
  EXPECT_TRUE(r->slices[2].too_small());
  EXPECT_EQ(r->slices[2].rows(), 3);
  ASSERT_EQ(r->slices[3].key_size(), 2);
  EXPECT_EQ(r->slices[3].key(1).column(), "home");
  int64_t crossed = 0;
  for (size_t i = 3; i < r->slices.size(); ++i) crossed += r->slices[i].rows();
  EXPECT_EQ(crossed, 200);
  ASSERT_EQ(r->gaps.size(), 2u);
  const auto& gap = r->gaps[0];
  EXPECT_EQ(gap.best(0).value(), "a");
  EXPECT_EQ(gap.worst(0).value(), "b");  // c is too small to count.
  EXPECT_NEAR(gap.gap(), 1.0 - Find(r->slices[1].metrics(), "auc"), 1e-12);
  auto bad = Slice(p, o, {group}, {{"region"}}, 10);
  EXPECT_THAT(bad.status().ToString(),
              HasSubstr("slices[0]: no column \"region\""));
}

}  // namespace
}  // namespace mlpipe::eval

namespace mlpipe::eval {
namespace {

std::vector<v1::MetricValue> Metrics(
    std::initializer_list<std::pair<const char*, double>> kv) {
  std::vector<v1::MetricValue> out;
  for (const auto& [k, v] : kv) {
    v1::MetricValue m;
    m.set_name(k);
    m.set_value(v);
    out.push_back(m);
  }
  return out;
}

TEST(EvalGateTest, WorseRejectedBetterBlessedTieByTheRule) {
  v1::GateSpec gate;
  auto* b = gate.add_bounds();
  b->set_metric("auc");
  b->set_min(0.7);
  ASSERT_TRUE(CheckGate(gate, v1::BINARY).ok());
  Baseline base{"credit:3", Metrics({{"auc", 0.80}})};
  v1::Verdict worse = Judge(Metrics({{"auc", 0.79}}), &base, gate, v1::BINARY);
  EXPECT_FALSE(worse.blessed());
  EXPECT_NEAR(worse.improvement(), -0.01, 1e-12);
  EXPECT_THAT(
      worse.reasons(1),
      ::testing::HasSubstr("auc 0.79 is 0.01 worse than credit:3's 0.8"));
  v1::Verdict better = Judge(Metrics({{"auc", 0.81}}), &base, gate, v1::BINARY);
  EXPECT_TRUE(better.blessed());
  EXPECT_EQ(better.baseline_model(), "credit:3");
  EXPECT_EQ(better.reasons(0), "auc 0.81 >= min 0.7");
  // A tie: blessed with min_improvement 0 (not worse), rejected with any
  // positive minimum.
  EXPECT_TRUE(
      Judge(Metrics({{"auc", 0.80}}), &base, gate, v1::BINARY).blessed());
  gate.set_min_improvement(0.001);
  EXPECT_FALSE(
      Judge(Metrics({{"auc", 0.80}}), &base, gate, v1::BINARY).blessed());
  EXPECT_TRUE(
      Judge(Metrics({{"auc", 0.802}}), &base, gate, v1::BINARY).blessed());
  // Bounds alone fail a candidate better than the baseline.
  Baseline weak{"credit:1", Metrics({{"auc", 0.6}})};
  v1::Verdict low = Judge(Metrics({{"auc", 0.65}}), &weak, gate, v1::BINARY);
  EXPECT_FALSE(low.blessed());
  EXPECT_EQ(low.reasons(0), "auc 0.65 < min 0.7");
}

TEST(EvalGateTest, LowerIsBetterAndNoBaseline) {
  v1::GateSpec gate;  // Regression's headline: rmse, lower is better.
  Baseline base{"ames:2", Metrics({{"rmse", 30000}})};
  EXPECT_TRUE(
      Judge(Metrics({{"rmse", 29000}}), &base, gate, v1::REGRESSION).blessed());
  v1::Verdict worse =
      Judge(Metrics({{"rmse", 31000}}), &base, gate, v1::REGRESSION);
  EXPECT_FALSE(worse.blessed());
  EXPECT_LT(worse.improvement(), 0);
  // No baseline: bounds alone by default; rejected when one is required.
  v1::Verdict first =
      Judge(Metrics({{"rmse", 31000}}), nullptr, gate, v1::REGRESSION);
  EXPECT_TRUE(first.blessed());
  EXPECT_EQ(first.reasons(0), "no baseline yet: judged on the bounds alone");
  gate.set_require_baseline(true);
  EXPECT_FALSE(
      Judge(Metrics({{"rmse", 1}}), nullptr, gate, v1::REGRESSION).blessed());
  // An undefined metric never blesses.
  gate.set_require_baseline(false);
  EXPECT_FALSE(
      Judge(Metrics({{"rmse", NAN}}), nullptr, gate, v1::REGRESSION).blessed());
}

TEST(EvalGateTest, BadGatesAreNamed) {
  v1::GateSpec gate;
  gate.set_metric("auc");
  EXPECT_THAT(CheckGate(gate, v1::REGRESSION).ToString(),
              ::testing::HasSubstr("gate.metric: no metric \"auc\" for "
                                   "REGRESSION models (rmse, mae, r2, mape)"));
  gate.clear_metric();
  gate.add_bounds()->set_metric("f1");
  EXPECT_THAT(CheckGate(gate, v1::BINARY).ToString(),
              ::testing::HasSubstr("gate.bounds[0]: give min, max or both"));
  gate.mutable_bounds(0)->set_min(0.9);
  gate.mutable_bounds(0)->set_max(0.1);
  EXPECT_THAT(CheckGate(gate, v1::BINARY).ToString(),
              ::testing::HasSubstr("gate.bounds[0]: min 0.9 > max 0.1"));
}

}  // namespace
}  // namespace mlpipe::eval
