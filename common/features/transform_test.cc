#include "common/features/transform.h"

#include <cstring>

#include "common/features/test_data.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace mlpipe::features {
namespace {

using ::testing::HasSubstr;

google::protobuf::ListValue Specs(const std::string& json) {
  google::protobuf::ListValue list;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &list).ok())
      << json;
  return list;
}

v1::FittedTransform Fit(const std::string& json, const table::Table& data) {
  auto specs = ParseTransformSpecs(Specs(json));
  EXPECT_TRUE(specs.ok()) << specs.status();
  auto fitted = FitTransform(*specs, data);
  EXPECT_TRUE(fitted.ok()) << fitted.status();
  return *fitted;
}

// scikit-learn on the same file: each transform's output matrix as lists.
constexpr char kSklearn[] = R"(
import json, sys
import numpy as np, pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import StandardScaler, MinMaxScaler, OneHotEncoder, KBinsDiscretizer
df = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=[''])
out = {}
def run(name, pipe, cols):
    out[name] = np.asarray(pipe.fit_transform(df[cols]), dtype=float).tolist()
run('standard', make_pipeline(SimpleImputer(strategy='median'), StandardScaler()), ['Income', 'Assets', 'Debt'])
run('minmax', make_pipeline(SimpleImputer(strategy='mean'), MinMaxScaler()), ['Seniority', 'Income'])
run('mode', SimpleImputer(strategy='most_frequent'), ['Assets'])
run('onehot', make_pipeline(SimpleImputer(strategy='most_frequent'),
                            OneHotEncoder(handle_unknown='ignore', sparse_output=False)),
    ['Home', 'Marital', 'Job'])
run('kbins', KBinsDiscretizer(n_bins=5, encode='ordinal', strategy='quantile', subsample=None), ['Amount', 'Price'])
print(json.dumps(out))
)";

class TransformTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    data_ = new table::Table(testdata::Credit());
    ref_ = new google::protobuf::Struct(testdata::PythonJson(kSklearn));
  }
  // Compares our batch output with scikit-learn's matrix within 1e-9.
  void ExpectMatches(const std::string& name, const std::string& specs) {
    TransformApplier t(Fit(specs, *data_));
    auto out = t.ApplyBatch(*data_);
    ASSERT_TRUE(out.ok()) << out.status();
    const auto& rows = ref_->fields().at(name).list_value();
    ASSERT_EQ(static_cast<size_t>(rows.values_size()), out->num_rows);
    for (int r = 0; r < rows.values_size(); ++r) {
      const auto& row = rows.values(r).list_value();
      ASSERT_EQ(static_cast<size_t>(row.values_size()), out->columns.size())
          << name;
      for (int c = 0; c < row.values_size(); ++c) {
        ASSERT_NEAR(out->columns[c].numbers[r], row.values(c).number_value(),
                    1e-9)
            << name << " row " << r << " output " << out->columns[c].name;
      }
    }
  }
  static table::Table* data_;
  static google::protobuf::Struct* ref_;
};
table::Table* TransformTest::data_ = nullptr;
google::protobuf::Struct* TransformTest::ref_ = nullptr;

TEST_F(TransformTest, ImputeMedianThenStandardScalerMatchesSklearn) {
  ExpectMatches(
      "standard",
      R"([{"columns": ["Income", "Assets", "Debt"], "impute": "median", "scale": "standard"}])");
}

TEST_F(TransformTest, ImputeMeanThenMinMaxScalerMatchesSklearn) {
  ExpectMatches(
      "minmax",
      R"([{"columns": ["Seniority", "Income"], "impute": "mean", "scale": "minmax"}])");
}

TEST_F(TransformTest, MostFrequentImputerMatchesSklearn) {
  ExpectMatches("mode", R"([{"columns": ["Assets"], "impute": "mode"}])");
}

TEST_F(TransformTest, OneHotEncoderMatchesSklearn) {
  ExpectMatches(
      "onehot",
      R"([{"columns": ["Home", "Marital", "Job"], "impute": "mode", "one_hot": true}])");
}

TEST_F(TransformTest, QuantileKBinsDiscretizerMatchesSklearn) {
  ExpectMatches("kbins",
                R"([{"columns": ["Amount", "Price"], "bucketize": 5}])");
}

TEST_F(TransformTest, BatchAndSingleRowGiveBitIdenticalFeatures) {
  TransformApplier t(Fit(R"([
      {"columns": ["Income", "Assets"], "impute": {"strategy": "median", "indicator": true},
       "clip": {"quantiles": [0.01, 0.99]}, "log1p": true, "scale": "standard"},
      {"columns": ["Amount"], "bucketize": {"quantiles": 4}},
      {"columns": ["Home"], "impute": "mode", "one_hot": {"max_categories": 4}},
      {"columns": ["Job"], "hash": {"buckets": 8}}])",
                         *data_));
  auto batch = t.ApplyBatch(*data_);
  ASSERT_TRUE(batch.ok()) << batch.status();
  std::vector<double> row;
  for (size_t r = 0; r < data_->num_rows; ++r) {
    std::map<std::string, RawValue> fields;
    for (const auto& c : data_->columns) {
      if (!c.IsValid(r)) {
        fields[c.name] = std::monostate{};
      } else if (c.type == table::ColumnType::kNumeric) {
        fields[c.name] = c.numbers[r];
      } else {
        fields[c.name] = c.strings[r];
      }
    }
    ASSERT_TRUE(t.ApplyRow(fields, &row).ok());
    for (size_t k = 0; k < row.size(); ++k) {
      double b = batch->columns[k].numbers[r];
      ASSERT_EQ(std::memcmp(&b, &row[k], sizeof(double)), 0)
          << "row " << r << " " << t.output_names()[k] << ": " << b << " vs "
          << row[k];
    }
  }
  EXPECT_THAT(t.output_names(), ::testing::Contains("Income_missing"));
  EXPECT_THAT(t.output_names(), ::testing::Contains("Home=__other__"));
  EXPECT_EQ(t.fitted().content_hash().substr(0, 7), "sha256:");
}

TEST_F(TransformTest, UnseenCategoryAtServingIsAllZerosOrOther) {
  TransformApplier plain(Fit(
      R"([{"columns": ["Home"], "impute": "mode", "one_hot": true}])", *data_));
  std::vector<double> row;
  ASSERT_TRUE(plain.ApplyRow({{"Home", std::string("castle")}}, &row).ok());
  for (double v : row) EXPECT_EQ(v, 0.0);
  TransformApplier grouped(Fit(
      R"([{"columns": ["Home"], "impute": "mode", "one_hot": {"max_categories": 3}}])",
      *data_));
  ASSERT_TRUE(grouped.ApplyRow({{"Home", std::string("castle")}}, &row).ok());
  EXPECT_EQ(row.back(), 1.0);
}

TEST_F(TransformTest, ErrorsNameEntryColumnAndReason) {
  auto bad = [](const std::string& json) {
    auto s = ParseTransformSpecs(Specs(json));
    EXPECT_FALSE(s.ok());
    return s.status().ToString();
  };
  EXPECT_THAT(bad(R"([{"columns": ["a"], "scale": "robust"}])"),
              HasSubstr("transforms[0].scale: must be standard or minmax"));
  EXPECT_THAT(
      bad(R"([{"columns": ["a"]}, {"columns": ["b"], "clip": {"quantiles": [0.9, 0.1]}}])"),
      HasSubstr("transforms[1].clip.quantiles: low must not exceed high"));
  EXPECT_THAT(bad(R"([{"columns": ["a"], "explode": true}])"),
              HasSubstr("transforms[0].explode: unknown step"));
  EXPECT_THAT(bad(R"([{"scale": "standard"}])"),
              HasSubstr("transforms[0].columns: required"));
  auto fit = [&](const std::string& json) {
    auto specs = ParseTransformSpecs(Specs(json));
    EXPECT_TRUE(specs.ok()) << specs.status();
    return FitTransform(*specs, *data_).status().ToString();
  };
  EXPECT_THAT(fit(R"([{"columns": ["Nope"], "scale": "standard"}])"),
              HasSubstr("transforms[0] column 'Nope': no such column"));
  EXPECT_THAT(fit(R"([{"columns": ["Home"], "scale": "standard"}])"),
              HasSubstr("column 'Home': clip, log1p, scale and bucketize apply "
                        "to numeric columns"));
  EXPECT_THAT(fit(R"([{"columns": ["Income"], "one_hot": true}])"),
              HasSubstr("one_hot and hash apply to categorical columns"));
  TransformApplier t(Fit(
      R"([{"columns": ["Income"], "impute": "mean"}, {"columns": ["Home"], "one_hot": true}])",
      *data_));
  std::vector<double> row;
  EXPECT_THAT(t.ApplyRow({{"Home", std::string("rent")}}, &row).ToString(),
              HasSubstr("field 'Income' is missing"));
  EXPECT_THAT(t.ApplyRow({{"Income", std::string("lots")},
                          {"Home", std::string("rent")}},
                         &row)
                  .ToString(),
              HasSubstr("field 'Income': expected a number"));
  EXPECT_THAT(
      t.ApplyRow({{"Income", 1.0 / 0.0}, {"Home", std::string("rent")}}, &row)
          .ToString(),
      HasSubstr("not a finite number"));
}

}  // namespace
}  // namespace mlpipe::features
