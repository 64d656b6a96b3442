#include "common/features/transform.h"

#include <algorithm>
#include <cmath>
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
from sklearn.feature_selection import chi2
x = np.asarray(make_pipeline(SimpleImputer(strategy='most_frequent'),
                             OneHotEncoder(sparse_output=False)).fit_transform(df[['Home', 'Marital', 'Job']]))
out['chi2'] = [float(v) for v in chi2(x, df['Status'])[0]]
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
              HasSubstr("column 'Home': clip, log1p, scale, bucketize and "
                        "timestamp_parts apply to numeric or timestamp"));
  // One-hot takes numbers as categories (OneHotEncoder does).
  EXPECT_EQ(fit(R"([{"columns": ["Income"], "one_hot": true}])"), "OK");
  EXPECT_THAT(fit(R"([{"columns": ["Income"], "timestamp_parts": ["hour"]}])"),
              HasSubstr("timestamp_parts applies to timestamp columns"));
  EXPECT_THAT(bad(R"([{"columns": ["a"], "timestamp_parts": ["fortnight"]}])"),
              HasSubstr("transforms[0].timestamp_parts: 'fortnight' is not"));
  EXPECT_THAT(bad(R"([{"columns": ["a"], "one_hot": true, "tokens": 8}])"),
              HasSubstr("use one of one_hot, hash and tokens"));
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

TEST_F(TransformTest, Chi2ScoresMatchSklearnAndSelectionKeepsTheTopK) {
  v1::FittedTransform fitted = Fit(
      R"([{"columns": ["Home", "Marital", "Job"], "impute": "mode", "one_hot": true}])",
      *data_);
  ASSERT_TRUE(SelectFeatures(*data_, "Status", "chi2", 3, &fitted).ok());
  const auto& ref = ref_->fields().at("chi2").list_value();
  const auto& sel = fitted.selection();
  ASSERT_EQ(sel.scores_size(), ref.values_size());
  for (int i = 0; i < ref.values_size(); ++i)
    EXPECT_NEAR(sel.scores(i), ref.values(i).number_value(),
                1e-9 * std::max(1.0, ref.values(i).number_value()));
  // The kept outputs are the three best scores, in output order.
  std::vector<int> order(sel.scores_size());
  for (int i = 0; i < sel.scores_size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return sel.scores(a) > sel.scores(b); });
  std::vector<int> best(order.begin(), order.begin() + 3);
  std::sort(best.begin(), best.end());
  EXPECT_THAT(sel.kept(), ::testing::ElementsAreArray(best));
  TransformApplier t(fitted);
  ASSERT_EQ(t.output_names().size(), 3u);
  auto batch = t.ApplyBatch(*data_);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->columns.size(), 3u);
  std::vector<double> row;
  ASSERT_TRUE(t.ApplyRow({{"Home", std::string("rent")},
                          {"Marital", std::string("married")},
                          {"Job", std::string("fixed")}},
                         &row)
                  .ok());
  EXPECT_EQ(row.size(), 3u);
  // Mutual information: one-hot outputs are exact two-bin estimates; the
  // most informative column for Status should also top chi2's list here.
  v1::FittedTransform mi = Fit(
      R"([{"columns": ["Home", "Marital", "Job"], "impute": "mode", "one_hot": true}])",
      *data_);
  ASSERT_TRUE(SelectFeatures(*data_, "Status", "mutual_info", 1, &mi).ok());
  for (double v : mi.selection().scores()) EXPECT_GE(v, 0.0);
  EXPECT_NE(mi.id(), fitted.id());
  EXPECT_THAT(SelectFeatures(*data_, "Nope", "chi2", 1, &mi).ToString(),
              HasSubstr("label"));
  v1::FittedTransform neg =
      Fit(R"([{"columns": ["Income"], "impute": "mean", "scale": "standard"}])",
          *data_);
  EXPECT_THAT(SelectFeatures(*data_, "Status", "chi2", 1, &neg).ToString(),
              HasSubstr("chi2 needs non-negative features"));
}

// scikit-learn's OneHotEncoder takes numbers as categories: so does one_hot
// (region codes, ratings), in the batch and the single-row path alike.
TEST(TransformPartsTest, OneHotOfANumericColumnTakesItsValuesAsCategories) {
  table::Table t;
  t.num_rows = 5;
  table::Column code;
  code.name = "code";
  code.type = table::ColumnType::kNumeric;
  code.numbers = {3, 1, 3, 2.5, 0};
  code.valid.Resize(5, true);
  code.valid.Set(4, false);
  t.columns = {code};
  TransformApplier a(Fit(R"([{"columns": ["code"], "one_hot": true}])", t));
  EXPECT_TRUE(a.fitted().columns(0).numbers_as_categories());
  EXPECT_THAT(a.output_names(),
              ::testing::ElementsAre("code=1", "code=2.5", "code=3"));
  auto out = a.ApplyBatch(t);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<std::vector<double>> want = {
      {0, 0, 1}, {1, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 0, 0}};
  for (size_t r = 0; r < want.size(); ++r) {
    std::vector<double> row;
    ASSERT_TRUE(
        a.ApplyRow({{"code", r == 4 ? RawValue() : RawValue(code.numbers[r])}},
                   &row)
            .ok());
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(out->columns[k].numbers[r], want[r][k]) << r << "," << k;
      EXPECT_EQ(row[k], want[r][k]) << r << "," << k;
    }
  }
  std::vector<double> row;
  ASSERT_TRUE(a.ApplyRow({{"code", 7.0}}, &row).ok());  // Unseen: all zeros.
  EXPECT_EQ(row, std::vector<double>(3, 0.0));
  // A string at serving is still refused: the column is numeric.
  EXPECT_FALSE(a.ApplyRow({{"code", std::string("3")}}, &row).ok());
  // Hashing too.
  TransformApplier h(Fit(R"([{"columns": ["code"], "hash": 4}])", t));
  EXPECT_EQ(h.output_names().size(), 4u);
}

TEST(TransformPartsTest, TimestampPartsAndTextTokens) {
  table::Table t;
  t.num_rows = 3;
  table::Column when;
  when.name = "when";
  when.type = table::ColumnType::kTimestamp;
  // 2024-03-05T14:30:00Z (a Tuesday), 2023-12-31T23:59:59Z (a Sunday),
  // missing.
  when.timestamps = {1709649000000000, 1704067199000000, 0};
  when.valid.Resize(3, true);
  when.valid.Set(2, false);
  table::Column text;
  text.name = "text";
  text.type = table::ColumnType::kText;
  text.strings = {"Hello, world! a hi-fi", "", "HELLO hello"};
  text.valid.Resize(3, true);
  text.valid.Set(1, false);
  t.columns = {when, text};
  TransformApplier a(Fit(R"([
      {"columns": ["when"], "timestamp_parts": ["hour", "day_of_week", "month", "year"]},
      {"columns": ["text"], "tokens": {"buckets": 16}}])",
                         t));
  ASSERT_EQ(a.output_names()[0], "when.hour");
  ASSERT_EQ(a.output_names()[1], "when.day_of_week");
  auto out = a.ApplyBatch(t);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->columns[0].numbers[0], 14);
  EXPECT_EQ(out->columns[1].numbers[0], 1);  // Tuesday (Monday is 0).
  EXPECT_EQ(out->columns[2].numbers[0], 3);
  EXPECT_EQ(out->columns[3].numbers[0], 2024);
  EXPECT_EQ(out->columns[0].numbers[1], 23);
  EXPECT_EQ(out->columns[1].numbers[1], 6);  // Sunday.
  EXPECT_EQ(out->columns[2].numbers[1], 12);
  EXPECT_TRUE(std::isnan(out->columns[0].numbers[2]));
  auto token_sum = [&](size_t r) {
    double sum = 0;
    for (size_t k = 4; k < out->columns.size(); ++k)
      sum += out->columns[k].numbers[r];
    return sum;
  };
  EXPECT_EQ(token_sum(0), 4);  // hello, world, hi, fi ("a" is too short).
  EXPECT_EQ(token_sum(1), 0);
  EXPECT_EQ(token_sum(2), 2);
  double max_bucket = 0;  // "HELLO hello": one token twice, one bucket.
  for (size_t k = 4; k < out->columns.size(); ++k)
    max_bucket = std::max(max_bucket, out->columns[k].numbers[2]);
  EXPECT_EQ(max_bucket, 2);
  std::vector<double> row;
  ASSERT_TRUE(a.ApplyRow({{"when", 1709649000000000.0},
                          {"text", std::string("Hello, world! a hi-fi")}},
                         &row)
                  .ok());
  for (size_t k = 0; k < row.size(); ++k)
    EXPECT_EQ(row[k], out->columns[k].numbers[0]) << a.output_names()[k];
  // A time int64 microseconds cannot hold has no parts (it was cast to
  // int64 unchecked: undefined behaviour).
  ASSERT_TRUE(
      a.ApplyRow({{"when", 1e300}, {"text", std::string("x")}}, &row).ok());
  for (size_t k = 0; k < 4; ++k)
    EXPECT_TRUE(std::isnan(row[k])) << a.output_names()[k] << " " << row[k];
}

// A stored transform is checked before it is applied: its steps write into
// the outputs it declares (a hash into 0 buckets divided by zero, one-hot
// categories beyond the outputs wrote past them: found by
// tests/reliability/fuzz/artifact_fuzz).
TEST(StoredTransformTest, WritingOutsideItsOutputsIsDataLoss) {
  v1::FittedTransform fitted;
  v1::FittedColumn* c = fitted.add_columns();
  c->set_input("Home");
  c->set_input_type(v1::CATEGORICAL);
  c->add_steps()->mutable_one_hot()->add_categories("owner");
  c->add_steps();
  c->add_outputs("Home=owner");
  ASSERT_TRUE(CheckFitted(fitted).ok()) << CheckFitted(fitted);
  v1::FittedTransform more = fitted;
  more.mutable_columns(0)->mutable_steps(0)->mutable_one_hot()->add_categories(
      "rent");
  v1::FittedTransform zero = fitted;
  zero.mutable_columns(0)->mutable_steps(1)->mutable_hash()->set_buckets(0);
  v1::FittedTransform kept = fitted;
  kept.mutable_selection()->add_kept(1);
  for (const auto* bad : {&more, &zero, &kept}) {
    EXPECT_EQ(CheckFitted(*bad).code(), absl::StatusCode::kDataLoss)
        << bad->DebugString();
  }
  EXPECT_THAT(CheckFitted(more).message(),
              HasSubstr("transform column 'Home'"));
}

}  // namespace
}  // namespace mlpipe::features
