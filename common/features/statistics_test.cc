#include "common/features/statistics.h"

#include <cstdio>

#include "common/features/test_data.h"
#include "common/table/csv.h"
#include "common/table/typing.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace mlpipe::features {
namespace {

using google::protobuf::Struct;

using testdata::CreditChunks;

// The same statistics from pandas / numpy, as JSON.
Struct PandasReference() {
  std::string script = R"(
import json, sys
import numpy as np, pandas as pd
df = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=[''])
out = {}
for c in df.columns:
    s = df[c]
    d = {'count': len(s), 'missing': int(s.isna().sum()), 'distinct': int(s.nunique())}
    if pd.api.types.is_numeric_dtype(s):
        v = s.dropna().to_numpy(dtype=float)
        d.update(mean=float(v.mean()), std=float(v.std(ddof=1)), min=float(v.min()),
                 max=float(v.max()),
                 q=[float(np.quantile(v, q)) for q in [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99]])
    else:
        vc = s.value_counts()
        d['top_counts'] = [int(x) for x in vc.head(5).to_numpy()]
        d['top_value'] = str(vc.index[0])
    out[c] = d
print(json.dumps(out))
)";
  return testdata::PythonJson(script);
}

TEST(StatisticsTest, MatchPandasOnCreditCsvAcrossMergedChunks) {
  // Three accumulators over different chunks, merged: as if on three workers.
  auto chunks = CreditChunks(1000);
  ASSERT_EQ(chunks.size(), 5u);
  TableStatisticsAccumulator a, b, c;
  for (size_t i = 0; i < chunks.size(); ++i) {
    ASSERT_TRUE((i < 2 ? a : i < 4 ? b : c).Add(chunks[i]).ok());
  }
  ASSERT_TRUE(a.Merge(b).ok());
  ASSERT_TRUE(a.Merge(c).ok());
  v1::DatasetStatistics stats = a.Finish();
  EXPECT_EQ(stats.row_count(), 4454);
  Struct ref = PandasReference();
  ASSERT_EQ(stats.columns_size(), 14);
  const double qs[] = {0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99};
  for (const auto& col : stats.columns()) {
    SCOPED_TRACE(col.name());
    const auto& r = ref.fields().at(col.name()).struct_value().fields();
    EXPECT_EQ(col.count(), r.at("count").number_value());
    EXPECT_EQ(col.missing(), r.at("missing").number_value());
    EXPECT_EQ(col.distinct(), r.at("distinct").number_value());
    EXPECT_TRUE(col.distinct_exact());
    if (col.type() == v1::NUMERIC) {
      const auto& n = col.numeric();
      double mean = r.at("mean").number_value();
      // Exact up to the last bits of rounding (numpy sums pairwise).
      EXPECT_NEAR(n.mean(), mean, 1e-12 * std::max(1.0, std::abs(mean)));
      EXPECT_NEAR(n.std_dev(), r.at("std").number_value(),
                  1e-12 * std::max(1.0, r.at("std").number_value()));
      EXPECT_EQ(n.min(), r.at("min").number_value());
      EXPECT_EQ(n.max(), r.at("max").number_value());
      ASSERT_TRUE(n.quantiles_exact());
      for (int i = 0; i < 7; ++i) {
        EXPECT_NEAR(n.quantiles(i),
                    r.at("q").list_value().values(i).number_value(), 1e-9)
            << "q" << qs[i];
      }
      int64_t total = 0;
      for (int64_t h : n.histogram().counts()) total += h;
      EXPECT_EQ(total, col.count() - col.missing());
    } else {
      ASSERT_EQ(col.type(), v1::CATEGORICAL);
      const auto& top = col.strings().top_values();
      EXPECT_EQ(top[0].value(), r.at("top_value").string_value());
      const auto& counts = r.at("top_counts").list_value();
      for (int i = 0; i < counts.values_size() && i < top.size(); ++i) {
        EXPECT_EQ(top[i].count(), counts.values(i).number_value());
      }
    }
  }
}

TEST(StatisticsTest, OnePassEqualsMergedChunks) {
  TableStatisticsAccumulator one, merged;
  for (const auto& t : CreditChunks(100000)) ASSERT_TRUE(one.Add(t).ok());
  auto chunks = CreditChunks(700);
  std::vector<TableStatisticsAccumulator> parts(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i)
    ASSERT_TRUE(parts[i].Add(chunks[i]).ok());
  for (auto& p : parts) ASSERT_TRUE(merged.Merge(p).ok());
  auto x = one.Finish(), y = merged.Finish();
  for (int i = 0; i < x.columns_size(); ++i) {
    EXPECT_EQ(x.columns(i).missing(), y.columns(i).missing());
    EXPECT_EQ(x.columns(i).distinct(), y.columns(i).distinct());
    EXPECT_EQ(x.columns(i).numeric().min(), y.columns(i).numeric().min());
    EXPECT_NEAR(x.columns(i).numeric().mean(), y.columns(i).numeric().mean(),
                1e-9);
    for (int q = 0; q < x.columns(i).numeric().quantiles_size(); ++q) {
      EXPECT_EQ(x.columns(i).numeric().quantiles(q),
                y.columns(i).numeric().quantiles(q));
    }
  }
}

TEST(StatisticsTest, TypeConflictBetweenChunksIsAnError) {
  ColumnStatisticsAccumulator acc("x", {});
  table::Column text{.name = "x", .type = table::ColumnType::kCategorical};
  text.strings = {"a"};
  text.valid.Resize(1, true);
  ASSERT_TRUE(acc.Add(text).ok());
  table::Column num{.name = "x", .type = table::ColumnType::kNumeric};
  num.numbers = {1};
  num.valid.Resize(1, true);
  EXPECT_TRUE(acc.Add(num).ok());  // Numbers read as text.
  ColumnStatisticsAccumulator numeric("x", {});
  ASSERT_TRUE(numeric.Add(num).ok());
  EXPECT_EQ(numeric.Add(text).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(acc.Finish().distinct(), 2);
}

}  // namespace
}  // namespace mlpipe::features
