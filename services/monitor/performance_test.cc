#include "services/monitor/performance.h"

#include <cmath>
#include <cstdio>
#include <random>

#include "common/features/test_data.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::monitor {
namespace {

using ::testing::HasSubstr;

google::protobuf::Value Text(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}
google::protobuf::Value Number(double d) {
  google::protobuf::Value v;
  v.set_number_value(d);
  return v;
}

// Binary: accuracy exact, AUC within the binning bound of scikit-learn's,
// also after a merge of two halves.
TEST(PerformanceTest, BinaryAccuracyAndAucAgainstScikitLearn) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> p, y;
  PerformanceAccumulator whole(v1::BINARY, {"good", "bad"});
  PerformanceAccumulator a(v1::BINARY, {"good", "bad"}),
      b(v1::BINARY, {"good", "bad"});
  uint64_t correct = 0;
  for (int i = 0; i < 5000; ++i) {
    const double score = u(rng);
    const bool bad = u(rng) < score * 0.8 + 0.1;  // Informative, not perfect.
    const std::string label = score >= 0.5 ? "bad" : "good";
    const std::string actual = bad ? "bad" : "good";
    correct += label == actual;
    p.push_back(score);
    y.push_back(bad ? 1 : 0);
    ASSERT_TRUE(whole.Add({score}, label, Text(actual)).ok());
    ASSERT_TRUE((i % 2 ? a : b).Add({score}, label, Text(actual)).ok());
  }
  testing::TempDir dir;
  std::FILE* f = std::fopen((dir.path() + "/py").c_str(), "wb");
  std::fwrite(p.data(), sizeof(double), p.size(), f);
  std::fwrite(y.data(), sizeof(double), y.size(), f);
  std::fclose(f);
  auto ref = features::testdata::PythonJson(
      "import sys, json\nimport numpy as np\n"
      "from sklearn.metrics import roc_auc_score\n"
      "d = np.fromfile(sys.argv[2]).reshape(2, -1)\n"
      "print(json.dumps({'auc': roc_auc_score(d[1], d[0])}))\n",
      {dir.path() + "/py"});
  const double auc = ref.fields().at("auc").number_value();
  v1::Performance s = whole.Summary();
  EXPECT_EQ(s.count(), 5000u);
  EXPECT_DOUBLE_EQ(s.accuracy(), static_cast<double>(correct) / 5000);
  EXPECT_NEAR(s.auc(), auc, 1.0 / (2 * kAucBins));
  ASSERT_TRUE(a.Merge(b).ok());
  EXPECT_DOUBLE_EQ(a.Summary().auc(), s.auc());
  EXPECT_EQ(a.Summary().count(), 5000u);
  // Round trip.
  auto back = PerformanceAccumulator::FromProto(whole.ToProto());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_DOUBLE_EQ(back->Summary().auc(), s.auc());
}

TEST(PerformanceTest, RegressionErrorsAreExactAndMergeable) {
  PerformanceAccumulator whole(v1::REGRESSION, {}), a(v1::REGRESSION, {}),
      b(v1::REGRESSION, {});
  std::vector<double> pred = {1e6 + 1, 1e6 + 2, 1e6 + 4, 1e6 + 3};
  std::vector<double> act = {1e6 + 1.5, 1e6 + 2, 1e6 + 3, 1e6 + 5};
  for (size_t i = 0; i < pred.size(); ++i) {
    ASSERT_TRUE(whole.Add({pred[i]}, "", Number(act[i])).ok());
    ASSERT_TRUE((i < 2 ? a : b).Add({pred[i]}, "", Number(act[i])).ok());
  }
  // errors -0.5, 0, 1, -2; actuals' mean 1e6 + 2.875.
  v1::Performance s = whole.Summary();
  EXPECT_NEAR(s.rmse(), std::sqrt((0.25 + 0 + 1 + 4) / 4), 1e-9);
  EXPECT_NEAR(s.mae(), 3.5 / 4, 1e-9);
  const double ss_tot =
      1.375 * 1.375 + 0.875 * 0.875 + 0.125 * 0.125 + 2.125 * 2.125;
  EXPECT_NEAR(s.r2(), 1 - 5.25 / ss_tot, 1e-9);  // Stable despite the 1e6.
  ASSERT_TRUE(a.Merge(b).ok());
  EXPECT_NEAR(a.Summary().r2(), s.r2(), 1e-9);
}

TEST(PerformanceTest, ActualsThatDoNotFitAreRefused) {
  PerformanceAccumulator bin(v1::BINARY, {"0", "1"});
  EXPECT_TRUE(bin.Add({0.7}, "1", Number(1)).ok());  // 1 reads as "1".
  auto unknown = bin.Add({0.7}, "1", Text("maybe"));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown.message()),
              HasSubstr("'maybe' is not one of the model's classes"));
  PerformanceAccumulator reg(v1::REGRESSION, {});
  EXPECT_EQ(reg.Add({1}, "", Number(NAN)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Add({1}, "", Text("x")).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Merge(bin).code(), absl::StatusCode::kInvalidArgument);
  v1::PerformanceState corrupt = bin.ToProto();
  corrupt.set_count(7);
  EXPECT_EQ(PerformanceAccumulator::FromProto(corrupt).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace mlpipe::monitor
