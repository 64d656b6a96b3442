#include "common/features/schema.h"

#include "common/features/statistics.h"
#include "common/features/test_data.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace mlpipe::features {
namespace {

using ::testing::HasSubstr;

v1::DatasetStatistics Stats(const table::Table& t, int64_t version) {
  TableStatisticsAccumulator acc;
  EXPECT_TRUE(acc.Add(t).ok());
  auto s = acc.Finish();
  s.set_dataset("credit");
  s.set_version(version);
  return s;
}

const v1::Anomaly* FindAnomaly(const v1::ValidationReport& r,
                               v1::Anomaly::Kind kind,
                               const std::string& column) {
  for (const auto& a : r.anomalies()) {
    if (a.kind() == kind && a.column() == column) return &a;
  }
  return nullptr;
}

TEST(SchemaTest, InferredSchemaAcceptsItsOwnDataAndListsSmallDomains) {
  table::Table credit = testdata::Credit();
  auto stats = Stats(credit, 1);
  v1::DataSchema schema = InferSchema(stats, "Status");
  ASSERT_EQ(schema.columns_size(), 14);
  for (const auto& c : schema.columns()) {
    if (c.name() == "Home") {
      EXPECT_THAT(c.categories(), ::testing::Contains("owner"));
    }
    if (c.name() == "Income") {
      EXPECT_EQ(c.min(), 6);
      EXPECT_EQ(c.max(), 959);
    }
  }
  auto report = Validate(schema, stats, &stats, {v1::Anomaly::MISSING_COLUMN});
  EXPECT_TRUE(report.passed());
  EXPECT_EQ(report.anomalies_size(), 0);
}

TEST(SchemaTest, AnomaliesNameTheColumnAndTheRule) {
  table::Table credit = testdata::Credit();
  auto before = Stats(credit, 1);
  v1::DataSchema schema = InferSchema(before, "Status");
  // A new version: Income doubled (out of range), Job dropped, a new Home
  // value, many missing Age values, most labels flipped to "bad".
  table::Table next = credit;
  int job = next.Find("Job");
  next.columns.erase(next.columns.begin() + job);
  auto& income = next.columns[next.Find("Income")];
  for (auto& v : income.numbers) v *= 2;
  auto& home = next.columns[next.Find("Home")];
  home.strings[0] = "castle";
  home.valid.Set(0, true);
  auto& age = next.columns[next.Find("Age")];
  for (size_t r = 0; r < age.size(); r += 3) age.valid.Set(r, false);
  auto& status = next.columns[next.Find("Status")];
  for (size_t r = 0; r < status.size(); r += 2) status.strings[r] = "bad";
  auto after = Stats(next, 2);
  std::set<v1::Anomaly::Kind> fail_on = {v1::Anomaly::MISSING_COLUMN,
                                         v1::Anomaly::TYPE_MISMATCH};
  auto report = Validate(schema, after, &before, fail_on);
  EXPECT_FALSE(report.passed());
  const auto* missing = FindAnomaly(report, v1::Anomaly::MISSING_COLUMN, "Job");
  ASSERT_NE(missing, nullptr);
  EXPECT_EQ(missing->severity(), v1::Anomaly::ERROR);
  const auto* range = FindAnomaly(report, v1::Anomaly::OUT_OF_RANGE, "Income");
  ASSERT_NE(range, nullptr);
  EXPECT_EQ(range->severity(), v1::Anomaly::WARNING);
  EXPECT_THAT(range->description(),
              HasSubstr("maximum 1918 is above the allowed 959"));
  const auto* cat = FindAnomaly(report, v1::Anomaly::NEW_CATEGORY, "Home");
  ASSERT_NE(cat, nullptr);
  EXPECT_THAT(cat->description(), HasSubstr("'castle' (1 rows)"));
  EXPECT_NE(FindAnomaly(report, v1::Anomaly::MISSING_RATE, "Age"), nullptr);
  const auto* shift = FindAnomaly(report, v1::Anomaly::LABEL_SHIFT, "Status");
  ASSERT_NE(shift, nullptr);
  EXPECT_THAT(shift->description(), HasSubstr("since version 1"));
}

TEST(SchemaTest, TypeMismatchAndUnexpectedColumn) {
  google::protobuf::Struct s;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(
          R"({"columns": {"Home": {"type": "numeric"}, "Age": {"min": 18, "max": 70}}})",
          &s)
          .ok());
  auto schema = SchemaFromStruct(s);
  ASSERT_TRUE(schema.ok()) << schema.status();
  auto stats = Stats(testdata::Credit(), 1);
  auto report = Validate(*schema, stats, nullptr, {v1::Anomaly::TYPE_MISMATCH});
  EXPECT_FALSE(report.passed());
  const auto* t = FindAnomaly(report, v1::Anomaly::TYPE_MISMATCH, "Home");
  ASSERT_NE(t, nullptr);
  EXPECT_THAT(t->description(),
              HasSubstr("expected numeric, found categorical"));
  EXPECT_NE(FindAnomaly(report, v1::Anomaly::UNEXPECTED_COLUMN, "Income"),
            nullptr);
  EXPECT_EQ(FindAnomaly(report, v1::Anomaly::OUT_OF_RANGE, "Age"),
            nullptr);  // 18..68 fits.
}

TEST(SchemaTest, EnvironmentsLeaveOutColumnsTheirDataLacks) {
  google::protobuf::Struct s;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"label": "Status", "columns": {"Id": {"not_in":
                      ["SERVING", "BACKFILL"]}, "Age": {"min": 18}}})",
                  &s)
                  .ok());
  auto schema = SchemaFromStruct(s);
  ASSERT_TRUE(schema.ok()) << schema.status();
  EXPECT_EQ(NotInEnvironment(*schema, "SERVING"),
            (std::set<std::string>{"Id", "Status"}));
  EXPECT_EQ(NotInEnvironment(*schema, "BACKFILL"),
            (std::set<std::string>{"Id"}));
  EXPECT_TRUE(NotInEnvironment(*schema, "").empty());
  (*s.mutable_fields())["columns"]
      .mutable_struct_value()
      ->mutable_fields()
      ->at("Id")
      .mutable_struct_value()
      ->mutable_fields()
      ->at("not_in")
      .set_string_value("SERVING");
  EXPECT_THAT(SchemaFromStruct(s).status().ToString(),
              HasSubstr("schema.columns.Id.not_in: expected a list"));
}

TEST(SchemaTest, BadSchemasAndPolicyNamesAreRejected) {
  google::protobuf::Struct s;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"columns": {"Age": {"type": "integer"}}})", &s)
                  .ok());
  EXPECT_THAT(SchemaFromStruct(s).status().ToString(),
              HasSubstr("schema.columns.Age.type: 'integer' is not numeric"));
  EXPECT_TRUE(AnomalyKindFromName("missing_column").ok());
  EXPECT_THAT(AnomalyKindFromName("bad_vibes").status().ToString(),
              HasSubstr("'bad_vibes' is not an anomaly kind"));
}

}  // namespace
}  // namespace mlpipe::features
