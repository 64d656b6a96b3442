// Drift statistics against scipy and numpy on the same fixed data: equal to
// rounding when the sketches are exact, within the documented error when
// they are KLL sketches.
#include "common/ml/drift.h"

#include <cmath>
#include <cstdio>
#include <random>
#include <string>

#include "common/features/sketches.h"
#include "common/features/test_data.h"
#include "common/util/testing.h"
#include "gtest/gtest.h"

namespace mlpipe::ml {
namespace {

using features::QuantileSketch;

constexpr const char* kScipy = R"(
import json, sys
import numpy as np
from scipy import stats
from scipy.spatial.distance import jensenshannon
a = np.fromfile(sys.argv[2], dtype=np.float64)
b = np.fromfile(sys.argv[3], dtype=np.float64)
ca = np.fromfile(sys.argv[4], dtype=np.float64)
cb = np.fromfile(sys.argv[5], dtype=np.float64)
ks = stats.ks_2samp(a, b, method="asymp")
edges = np.unique(np.quantile(a, np.arange(1, 10) / 10))
p = np.bincount(np.digitize(a, edges, right=True), minlength=len(edges) + 1) / len(a)
q = np.bincount(np.digitize(b, edges, right=True), minlength=len(edges) + 1) / len(b)
pf, qf = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
chi = stats.chi2_contingency(np.array([ca, cb]))
chi2x2 = stats.chi2_contingency(np.array([ca[:2], cb[:2]]))
print(json.dumps({
    "ks": ks.statistic, "ks_p": ks.pvalue,
    "wasserstein": stats.wasserstein_distance(a, b),
    "edges": edges.tolist(), "psi": float(np.sum((qf - pf) * np.log(qf / pf))),
    "js": float(jensenshannon(p, q)), "js_categories": float(jensenshannon(ca, cb)),
    "chi2": chi[0], "chi2_p": chi[1], "chi2_dof": int(chi[2]),
    "chi2x2": chi2x2[0], "chi2x2_p": chi2x2[1],
    "range": float(max(a.max(), b.max()) - min(a.min(), b.min())),
}))
)";

void WriteDoubles(const std::string& path, const std::vector<double>& v) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fwrite(v.data(), sizeof(double), v.size(), f);
  std::fclose(f);
}

double Field(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  EXPECT_NE(it, s.fields().end()) << key;
  return it == s.fields().end() ? NAN : it->second.number_value();
}

struct Data {
  std::vector<double> a, b;                // Reference and current values.
  std::vector<double> counts_a, counts_b;  // Category counts.
};

// Reference N(0, 1) with a few repeated (rounded) values; current shifted
// and wider. Categories: 6, the current leaning to the last ones.
Data Make(size_t n, size_t m) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> ref(0, 1), cur(0.3, 1.2);
  Data d;
  for (size_t i = 0; i < n; ++i)
    d.a.push_back(i % 10 == 0 ? std::round(ref(rng) * 4) / 4 : ref(rng));
  for (size_t i = 0; i < m; ++i)
    d.b.push_back(i % 10 == 0 ? std::round(cur(rng) * 4) / 4 : cur(rng));
  d.counts_a = {500, 420, 300, 160, 80, 40};
  d.counts_b = {430, 400, 320, 200, 110, 75};
  return d;
}

google::protobuf::Struct Reference(const Data& d) {
  testing::TempDir dir;
  const std::string p = dir.path();
  WriteDoubles(p + "/a", d.a);
  WriteDoubles(p + "/b", d.b);
  WriteDoubles(p + "/ca", d.counts_a);
  WriteDoubles(p + "/cb", d.counts_b);
  return features::testdata::PythonJson(
      kScipy, {p + "/a", p + "/b", p + "/ca", p + "/cb"});
}

QuantileSketch Sketch(const std::vector<double>& v) {
  QuantileSketch s;
  for (double x : v) s.Add(x);
  return s;
}

TEST(DriftTest, ExactSketchesEqualScipy) {
  Data d = Make(3000, 2000);
  auto ref = Reference(d);
  QuantileSketch sa = Sketch(d.a), sb = Sketch(d.b);
  ASSERT_TRUE(sa.exact() && sb.exact());
  Weighted a = sa.Weighted(), b = sb.Weighted();
  EXPECT_DOUBLE_EQ(KsStatistic(a, b), Field(ref, "ks"));
  EXPECT_NEAR(KsPValue(KsStatistic(a, b), 3000, 2000), Field(ref, "ks_p"),
              1e-9 + 1e-6 * Field(ref, "ks_p"));
  EXPECT_NEAR(Wasserstein(a, b), Field(ref, "wasserstein"), 1e-12);
  std::vector<double> edges = QuantileEdges(a, 10);
  const auto& want = ref.fields().at("edges").list_value().values();
  ASSERT_EQ(edges.size(), static_cast<size_t>(want.size()));
  for (size_t i = 0; i < edges.size(); ++i)
    EXPECT_DOUBLE_EQ(edges[i], want[i].number_value()) << i;
  auto p = BinShares(a, edges), q = BinShares(b, edges);
  EXPECT_NEAR(Psi(p, q), Field(ref, "psi"), 1e-12);
  EXPECT_NEAR(JensenShannon(p, q), Field(ref, "js"), 1e-12);
  EXPECT_NEAR(JensenShannon(d.counts_a, d.counts_b),
              Field(ref, "js_categories"), 1e-12);
  ChiSquare chi = Chi2Contingency(d.counts_a, d.counts_b);
  EXPECT_NEAR(chi.statistic, Field(ref, "chi2"), 1e-9);
  EXPECT_EQ(chi.dof, static_cast<int>(Field(ref, "chi2_dof")));
  EXPECT_NEAR(chi.p_value, Field(ref, "chi2_p"), 1e-12);
  // One degree of freedom: Yates' correction, as scipy applies it.
  ChiSquare two = Chi2Contingency({d.counts_a[0], d.counts_a[1]},
                                  {d.counts_b[0], d.counts_b[1]});
  EXPECT_EQ(two.dof, 1);
  EXPECT_NEAR(two.statistic, Field(ref, "chi2x2"), 1e-9);
  EXPECT_NEAR(two.p_value, Field(ref, "chi2x2_p"), 1e-12);
}

TEST(DriftTest, KllSketchesStayWithinTheirErrorBounds) {
  Data d = Make(400000, 300000);
  auto ref = Reference(d);
  QuantileSketch sa = Sketch(d.a), sb = Sketch(d.b);
  ASSERT_FALSE(sa.exact());
  ASSERT_FALSE(sb.exact());
  Weighted a = sa.Weighted(), b = sb.Weighted();
  ASSERT_LT(a.size(), 10000u);  // Bounded memory.
  const double e = 2 * QuantileSketch::RankError(200);
  EXPECT_NEAR(KsStatistic(a, b), Field(ref, "ks"), e);
  EXPECT_NEAR(Wasserstein(a, b), Field(ref, "wasserstein"),
              e * Field(ref, "range"));
  // Shares are off by at most 2e each; PSI and JS move by far less here.
  auto edges = QuantileEdges(a, 10);
  auto p = BinShares(a, edges), q = BinShares(b, edges);
  EXPECT_NEAR(Psi(p, q), Field(ref, "psi"), 0.02);
  EXPECT_NEAR(JensenShannon(p, q), Field(ref, "js"), 0.02);
}

TEST(DriftTest, EdgeCases) {
  Weighted one = {{1.0, 5}}, other = {{2.0, 3}};
  EXPECT_DOUBLE_EQ(KsStatistic(one, other), 1.0);
  EXPECT_DOUBLE_EQ(KsStatistic(one, one), 0.0);
  EXPECT_DOUBLE_EQ(Wasserstein(one, other), 1.0);
  EXPECT_TRUE(std::isnan(KsStatistic({}, one)));
  EXPECT_TRUE(QuantileEdges({}, 10).empty());
  EXPECT_EQ(QuantileEdges(one, 10).size(), 1u);  // All edges equal: one.
  // A category only the current has: the floor keeps PSI finite.
  EXPECT_TRUE(std::isfinite(Psi({0.5, 0.5, 0.0}, {0.4, 0.4, 0.2})));
  EXPECT_DOUBLE_EQ(JensenShannon({1, 1}, {1, 1}), 0.0);
  ChiSquare none = Chi2Contingency({5, 0}, {7, 0});  // One category left.
  EXPECT_EQ(none.dof, 0);
  EXPECT_EQ(none.p_value, 1);
  EXPECT_NEAR(ChiSquareSurvival(3.841458820694124, 1), 0.05, 1e-12);
  EXPECT_NEAR(ChiSquareSurvival(200, 10) / 1.6139305336977317e-37, 1, 1e-9);
}

}  // namespace
}  // namespace mlpipe::ml
