#include "services/monitor/profile.h"

#include <cmath>
#include <random>

#include "common/ml/drift.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace mlpipe::monitor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A logged prediction with amount ~ N(mean, 1) and city from `cities`.
v1::PredictionRecord Record(std::mt19937_64& rng, double mean,
                            const std::vector<std::string>& cities,
                            bool missing_amount = false) {
  std::normal_distribution<double> amount(mean, 1);
  v1::PredictionRecord r;
  auto& f = *r.mutable_inputs()->mutable_fields();
  if (missing_amount) {
    f["amount"].set_null_value({});
  } else {
    f["amount"].set_number_value(amount(rng));
  }
  f["city"].set_string_value(cities[rng() % cities.size()]);
  r.add_scores(std::uniform_real_distribution<double>(0, 1)(rng));
  r.set_label(r.scores(0) >= 0.5 ? "yes" : "no");
  return r;
}

table::Table Reference(size_t n) {
  std::mt19937_64 rng(1);
  std::normal_distribution<double> amount(0, 1);
  table::Table t;
  t.num_rows = n;
  table::Column a, c;
  a.name = "amount";
  a.type = table::ColumnType::kNumeric;
  c.name = "city";
  c.type = table::ColumnType::kCategorical;
  const std::vector<std::string> cities = {"oslo", "rome", "lima"};
  for (size_t i = 0; i < n; ++i) {
    a.numbers.push_back(amount(rng));
    c.strings.push_back(cities[rng() % 3]);
  }
  a.valid.Resize(n, true);
  c.valid.Resize(n, true);
  t.columns = {std::move(a), std::move(c)};
  return t;
}

const v1::FieldDrift& Field(const v1::DriftReport& r, const std::string& n) {
  for (const auto& f : r.fields())
    if (f.name() == n) return f;
  ADD_FAILURE() << "no field " << n;
  static v1::FieldDrift none;
  return none;
}

TEST(ProfileTest, SameDistributionDoesNotDriftAShiftedOneDoes) {
  Profiler reference;
  reference.AddTable(Reference(20000));
  std::mt19937_64 rng(2);
  Profiler same, shifted;
  for (int i = 0; i < 20000; ++i) {
    same.AddRecord(Record(rng, 0, {"oslo", "rome", "lima"}));
    shifted.AddRecord(Record(rng, 0.8, {"oslo", "oslo", "paris"}, i % 10 == 0));
  }
  auto calm = Compare(reference.ToProto(), same.ToProto());
  ASSERT_TRUE(calm.ok()) << calm.status();
  EXPECT_THAT(calm->drifted(), ElementsAre());
  EXPECT_EQ(calm->fields_size(), 2);  // prediction / label: no reference.
  EXPECT_LT(Field(*calm, "amount").psi(), 0.02);
  EXPECT_LT(Field(*calm, "city").jensenshannon(), 0.02);

  auto moved = Compare(reference.ToProto(), shifted.ToProto());
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_THAT(moved->drifted(), ElementsAre("amount", "city"));
  const auto& amount = Field(*moved, "amount");
  EXPECT_EQ(amount.method(), "psi");
  EXPECT_GE(amount.psi(), 0.2);
  EXPECT_GT(amount.ks(), 0.25);
  EXPECT_LT(amount.ks_p_value(), 1e-6);
  EXPECT_NEAR(amount.wasserstein(), 0.8, 0.05);  // In reference std units.
  EXPECT_NEAR(amount.missing_rate(), 0.1, 1e-9);
  EXPECT_EQ(amount.reference_missing_rate(), 0);
  EXPECT_GT(amount.out_of_range_rate(), 0);
  const auto& city = Field(*moved, "city");
  EXPECT_EQ(city.method(), "jensenshannon");
  EXPECT_NEAR(city.unseen_rate(), 1.0 / 3, 0.02);  // paris.
  EXPECT_LT(city.chi2_p_value(), 1e-6);
}

TEST(ProfileTest, AColumnAtOnceIsProfiledAsValueByValue) {
  // Past the exact limit (a KLL sketch), with values that are missing.
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> d(0, 1);
  std::vector<double> column(200000);
  for (auto& x : column) x = d(rng);
  column[0] = NAN;
  column[70000] = INFINITY;
  column[70001] = -INFINITY;
  column.back() = NAN;
  Profiler at_once, one_by_one;
  at_once.AddNumbers("x", column.data(), column.size());
  for (double x : column) one_by_one.AddNumber("x", x);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      at_once.ToProto(), one_by_one.ToProto()));
  const v1::Profile p = at_once.ToProto();
  ASSERT_EQ(p.fields_size(), 1);
  EXPECT_EQ(p.fields(0).missing(), 4u);
}

TEST(ProfileTest, RoundTripsMergesAndStaysBounded) {
  std::mt19937_64 rng(3);
  Profiler whole, first, second;
  std::vector<std::string> many;
  for (int i = 0; i < 200; ++i) many.push_back("c" + std::to_string(i));
  for (int i = 0; i < 300000; ++i) {
    auto r = Record(rng, 0, many);
    whole.AddRecord(r);
    (i % 2 == 0 ? first : second).AddRecord(r);
  }
  v1::Profile p = whole.ToProto();
  EXPECT_LT(p.ByteSizeLong(), 200u << 10);  // 300,000 rows in < 200 KiB.
  auto back = Profiler::FromProto(p);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(back->ToProto(), p));
  ASSERT_TRUE(first.Merge(second).ok());
  v1::Profile merged = first.ToProto();
  EXPECT_EQ(merged.rows(), 300000u);
  auto report = Compare(p, merged);
  ASSERT_TRUE(report.ok()) << report.status();
  for (const auto& f : report->fields()) {
    SCOPED_TRACE(f.name());
    EXPECT_FALSE(f.drifted());
    if (f.kind() == v1::FieldProfile::NUMERIC) {
      EXPECT_LT(f.ks(), 2 * features::QuantileSketch::RankError(200));
    }
  }
  // Distinct strings past the cap are counted together.
  ProfileOptions o;
  o.max_categories = 50;
  Profiler capped(o);
  for (int i = 0; i < 10000; ++i) capped.AddRecord(Record(rng, 0, many));
  const v1::Profile profile = capped.ToProto();
  for (const auto& f : profile.fields()) {
    if (f.name() != "city") continue;
    EXPECT_EQ(f.categories_size(), 50);
    EXPECT_GT(f.other(), 0u);
  }
  // Long values are counted, never kept: 300 unique 1 MiB values leave a
  // profile of a few bytes (they once made one of 300 MiB).
  Profiler big;
  for (int i = 0; i < 300; ++i)
    big.AddString("note", std::to_string(i) + std::string(1 << 20, 'x'));
  big.AddString("note", "short");
  const v1::Profile kept = big.ToProto();
  EXPECT_LT(kept.ByteSizeLong(), 1000u);
  EXPECT_EQ(kept.fields(0).other(), 300u);
  EXPECT_EQ(kept.fields(0).categories().at("short"), 1u);
}

TEST(ProfileTest, CorruptProfilesAndKindConflictsAreErrors) {
  Profiler a;
  a.AddNumber("x", 1);
  a.AddNumber("x", NAN);  // Missing.
  a.EndRow();
  v1::Profile p = a.ToProto();
  EXPECT_EQ(p.fields(0).missing(), 1u);
  p.mutable_fields(0)->set_count(5);
  auto bad = Compare(p, a.ToProto());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'x'"));

  Profiler b;
  b.AddString("x", "one");
  b.EndRow();
  auto conflict = Compare(a.ToProto(), b.ToProto());
  EXPECT_EQ(conflict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(conflict.status().message()),
              HasSubstr("'x' is NUMERIC in the reference and CATEGORICAL"));
  EXPECT_EQ(a.Merge(b).code(), absl::StatusCode::kInvalidArgument);
  // A value of the other kind counts as missing.
  a.AddString("x", "text");
  EXPECT_EQ(a.ToProto().fields(0).missing(), 2u);
}

}  // namespace
}  // namespace mlpipe::monitor
