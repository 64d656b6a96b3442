#include "common/features/sketches.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "gtest/gtest.h"
#include "mlpipe/v1/sketch.pb.h"

namespace mlpipe::features {
namespace {

TEST(QuantileSketchTest, ExactModeMatchesNumpyLinearInterpolation) {
  QuantileSketch s;
  for (int v : {7, 1, 3, 9, 5, 2, 8, 4, 6, 10}) s.Add(v);
  EXPECT_TRUE(s.exact());
  EXPECT_DOUBLE_EQ(s.Quantile(0.5), 5.5);    // numpy.quantile(1..10, 0.5)
  EXPECT_DOUBLE_EQ(s.Quantile(0.25), 3.25);  // numpy.quantile(1..10, 0.25)
  EXPECT_DOUBLE_EQ(s.Quantile(0), 1);
  EXPECT_DOUBLE_EQ(s.Quantile(1), 10);
}

TEST(QuantileSketchTest, SketchRankErrorWithinTheStatedBoundAlsoAfterMerge) {
  const int n = 1000000;
  std::vector<int> values(n);
  std::iota(values.begin(), values.end(), 0);
  std::shuffle(values.begin(), values.end(), std::mt19937(7));
  QuantileSketch all(200, 1000), a(200, 1000), b(200, 1000);
  for (int i = 0; i < n; ++i) {
    all.Add(values[i]);
    (i % 2 ? a : b).Add(values[i]);
  }
  a.Merge(b);
  EXPECT_FALSE(all.exact());
  EXPECT_EQ(a.count(), static_cast<uint64_t>(n));
  const double bound = QuantileSketch::RankError(200);
  EXPECT_NEAR(bound, 0.0166, 0.0005);
  for (double q : {0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99}) {
    // The value v has rank v / n among 0..n-1.
    EXPECT_NEAR(all.Quantile(q) / n, q, bound) << q;
    EXPECT_NEAR(a.Quantile(q) / n, q, bound) << q;
  }
  std::vector<double> b10;
  for (int i = 0; i <= 10; ++i) b10.push_back(i * (n - 1) / 10.0);
  auto counts = all.HistogramCounts(b10);
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), int64_t{0}), n);
  for (int64_t c : counts) EXPECT_NEAR(c, n / 10, n * bound);
}

TEST(QuantileSketchTest, StateRoundTripsAndMergesAsTheOriginal) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  for (size_t n : {size_t{500}, size_t{300000}}) {
    SCOPED_TRACE(n);
    QuantileSketch a, b;
    for (size_t i = 0; i < n; ++i) a.Add(normal(rng));
    for (size_t i = 0; i < n / 2; ++i) b.Add(normal(rng) + 1);
    v1::QuantileSketchState state;
    a.ToProto(&state);
    std::string bytes = state.SerializeAsString();
    v1::QuantileSketchState parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    auto back = QuantileSketch::FromProto(parsed);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->exact(), a.exact());
    EXPECT_EQ(back->count(), a.count());
    EXPECT_EQ(back->Weighted(), a.Weighted());
    for (double q : {0.01, 0.5, 0.99})
      EXPECT_EQ(back->Quantile(q), a.Quantile(q));
    QuantileSketch merged = a;
    merged.Merge(b);
    back->Merge(b);
    EXPECT_EQ(back->count(), merged.count());
    EXPECT_EQ(back->Quantile(0.5), merged.Quantile(0.5));
  }
  // Weights that do not add up to the count: corrupt.
  QuantileSketch s;
  for (int i = 0; i < 100; ++i) s.Add(i);
  v1::QuantileSketchState state;
  s.ToProto(&state);
  state.set_count(99);
  auto bad = QuantileSketch::FromProto(state);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find("count"), std::string::npos);
  state.set_count(100);
  state.set_k(0);
  EXPECT_EQ(QuantileSketch::FromProto(state).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(DistinctCounterTest, ExactThenHyperLogLogWithinThreeStandardErrors) {
  DistinctCounter small;
  for (int i = 0; i < 1000; ++i)
    small.AddHash(StableHash(static_cast<double>(i % 300)));
  EXPECT_TRUE(small.exact());
  EXPECT_EQ(small.Estimate(), 300u);
  DistinctCounter big, half1, half2;
  for (int i = 0; i < 200000; ++i) {
    uint64_t h = StableHash("v" + std::to_string(i));
    big.AddHash(h);
    (i < 120000 ? half1 : half2).AddHash(h);
    if (i < 10000) half2.AddHash(h);  // Overlap counted once.
  }
  half1.Merge(half2);
  EXPECT_FALSE(big.exact());
  EXPECT_NEAR(big.Estimate(), 200000,
              200000 * 3 * DistinctCounter::RelativeError());
  EXPECT_NEAR(half1.Estimate(), 200000,
              200000 * 3 * DistinctCounter::RelativeError());
  EXPECT_EQ(StableHash(0.0), StableHash(-0.0));
}

TEST(TopValuesTest, ExactCountsAndHeavyHittersSurvivePruning) {
  TopValues t(100);
  for (int i = 0; i < 10; ++i) t.Add("rare" + std::to_string(i));
  for (int i = 0; i < 50; ++i) t.Add("b");
  for (int i = 0; i < 80; ++i) t.Add("a");
  EXPECT_TRUE(t.exact());
  auto top = t.Top(2);
  EXPECT_EQ(top[0], (std::pair<std::string, int64_t>{"a", 80}));
  EXPECT_EQ(top[1], (std::pair<std::string, int64_t>{"b", 50}));
  for (int i = 0; i < 1000; ++i) t.Add("noise" + std::to_string(i));
  EXPECT_FALSE(t.exact());
  EXPECT_EQ(t.Top(1)[0].first, "a");
}

}  // namespace
}  // namespace mlpipe::features
