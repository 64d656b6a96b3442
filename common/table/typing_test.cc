#include "common/table/typing.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::table {
namespace {

using ::testing::HasSubstr;

TextRows Rows(const std::vector<std::string>& cells, int64_t first_line = 2) {
  TextRows t;
  t.AddColumn("x");
  for (const auto& c : cells) {
    uint32_t start = static_cast<uint32_t>(t.arena().size());
    t.arena().append(c);
    t.EndCell(0, start);
    t.EndRow(first_line++);
  }
  return t;
}

TEST(ParseNumberTest, AcceptsDecimalsRejectsCodesAndNonFinite) {
  double v;
  EXPECT_TRUE(ParseNumber("12", &v));
  EXPECT_EQ(v, 12);
  EXPECT_TRUE(ParseNumber("-0.5", &v));
  EXPECT_TRUE(ParseNumber(".5", &v));
  EXPECT_TRUE(ParseNumber("1e-3", &v));
  EXPECT_TRUE(ParseNumber("0", &v));
  for (std::string bad : {"007", "+1", "inf", "nan", "NaN", "1e999", " 1", "1 ",
                          "1,5", "", "-", "0x10"}) {
    EXPECT_FALSE(ParseNumber(bad, &v)) << bad;
  }
}

TEST(ParseNumberTest, ShortestTextRoundTrips) {
  for (double v : {0.1, 1500.0, -2.5e-7, 123456789.123, 1e21}) {
    std::string s;
    AppendNumber(v, &s);
    double back;
    ASSERT_TRUE(ParseNumber(s, &back)) << s;
    EXPECT_EQ(back, v);
  }
  auto text = [](double v) {
    std::string s;
    AppendNumber(v, &s);
    return s;
  };
  EXPECT_EQ(text(1500.0), "1500");
  EXPECT_EQ(text(200000.0), "200000");
  EXPECT_EQ(text(0.000001), "0.000001");
  EXPECT_EQ(text(-12.5), "-12.5");
  EXPECT_EQ(text(0), "0");
  EXPECT_EQ(text(1e21), "1e+21");
  EXPECT_EQ(text(1.5e-7), "1.5e-07");
}

// Short decimals take a fast path; it must give the very double that
// std::from_chars gives (correct rounding), sign of zero included.
TEST(ParseNumberTest, FastPathMatchesFromChars) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 200000; ++i) {
    std::string s = rng() % 4 == 0 ? "-" : "";
    const int int_digits = 1 + static_cast<int>(rng() % 16);
    const int frac_digits = static_cast<int>(rng() % 17);
    s.push_back(static_cast<char>('1' + rng() % 9));
    for (int d = 1; d < int_digits; ++d)
      s.push_back(static_cast<char>('0' + rng() % 10));
    if (rng() % 8 == 0) s = s.substr(0, s.size() - int_digits) + "0";
    if (frac_digits > 0) {
      s.push_back('.');
      for (int d = 0; d < frac_digits; ++d)
        s.push_back(static_cast<char>('0' + rng() % 10));
    }
    double want = 0, got = 0;
    std::from_chars(s.data(), s.data() + s.size(), want);
    ASSERT_TRUE(ParseNumber(s, &got)) << s;
    ASSERT_EQ(std::memcmp(&got, &want, sizeof(double)), 0)
        << s << ": " << got << " vs " << want;
  }
  double v = 1;
  ASSERT_TRUE(ParseNumber("-0", &v));
  EXPECT_TRUE(std::signbit(v));
  EXPECT_FALSE(ParseNumber("1.", &v) && v != 1);
}

TEST(TimestampTest, ParsesLayoutsAndFormatsThemBack) {
  for (std::string text :
       {"2001-01-01", "2001-01-01T00:01:00", "2024-02-29 23:59",
        "1969-12-31T23:59:59.25Z", "2001-01-01T00:01:00.123456",
        "1900-03-01T12:00:00Z"}) {
    int64_t micros;
    TimestampFormat f;
    ASSERT_TRUE(ParseTimestamp(text, &micros, &f)) << text;
    auto g = TimestampFormat::FromString(f.ToString());
    ASSERT_TRUE(g.has_value()) << f.ToString();
    std::string back;
    AppendTimestamp(micros, *g, &back);
    EXPECT_EQ(back, text);
  }
  int64_t micros;
  TimestampFormat f;
  ASSERT_TRUE(ParseTimestamp("1970-01-02T00:00:01Z", &micros, &f));
  EXPECT_EQ(micros, (86400 + 1) * int64_t{1000000});
  for (std::string bad : {"2023-02-29", "2001-13-01", "2001-01-01T24:00",
                          "2001-01-01T10:00+02:00", "01/02/2003", "2001-1-1"}) {
    EXPECT_FALSE(ParseTimestamp(bad, &micros, &f)) << bad;
  }
}

// The one-layout parser accepts exactly what ParseTimestamp accepts in that
// layout, with the same value: valid timestamps of every layout, each with
// one byte changed at random.
TEST(TimestampTest, OneLayoutParserAgreesWithTheGeneralOne) {
  std::mt19937_64 rng(3);
  const std::vector<std::string> layouts = {"%Y-%m-%d",
                                            "%Y-%m-%dT%H:%M",
                                            "%Y-%m-%d %H:%M:%S",
                                            "%Y-%m-%dT%H:%M:%S.%3fZ",
                                            "%Y-%m-%dT%H:%M:%S.%6f",
                                            "%Y-%m-%dZ"};
  const std::string bytes = "0123456789-:T .Z9x";
  for (int i = 0; i < 100000; ++i) {
    const auto f = TimestampFormat::FromString(layouts[rng() % layouts.size()]);
    ASSERT_TRUE(f.has_value());
    std::string text;
    AppendTimestamp(
        static_cast<int64_t>(rng() % (int64_t{1} << 52)) - (int64_t{1} << 50),
        *f, &text);
    if (rng() % 2) text[rng() % text.size()] = bytes[rng() % bytes.size()];
    int64_t want = 0, got = 0;
    TimestampFormat g;
    const bool general = ParseTimestamp(text, &want, &g) && g == *f;
    ASSERT_EQ(ParseTimestampIn(text, *f, &got), general) << text;
    if (general) ASSERT_EQ(got, want) << text;
  }
}

TEST(ColumnTyperTest, InfersNumericTimestampCategorical) {
  ColumnTyper typer;
  auto num = typer.Type(Rows({"1", "", "2.5"}), 0);
  ASSERT_TRUE(num.ok());
  EXPECT_EQ(num->type, ColumnType::kNumeric);
  EXPECT_FALSE(num->IsValid(1));
  EXPECT_EQ(num->numbers[2], 2.5);

  ColumnTyper t2;
  auto ts = t2.Type(Rows({"2001-01-01", "2001-01-02"}), 0);
  EXPECT_EQ(ts->type, ColumnType::kTimestamp);
  EXPECT_EQ(ts->timestamp_format, "%Y-%m-%d");

  ColumnTyper t3;
  auto cat = t3.Type(Rows({"1", "007"}), 0);
  EXPECT_EQ(cat->type, ColumnType::kCategorical);
  EXPECT_EQ(cat->strings[1], "007");
}

TEST(ColumnTyperTest, LaterBlockWidensToCategoricalAndEarlierBlocksCast) {
  ColumnTyper typer;
  auto first = typer.Type(Rows({"1", "2"}), 0);
  EXPECT_EQ(first->type, ColumnType::kNumeric);
  auto second = typer.Type(Rows({"3", "n/a"}), 0);
  EXPECT_EQ(second->type, ColumnType::kCategorical);
  EXPECT_EQ(typer.states().at("x").type, ColumnType::kCategorical);
  auto cast = CastColumn(*first, ColumnType::kCategorical, "");
  ASSERT_TRUE(cast.ok());
  EXPECT_EQ(cast->strings[1], "2");
}

TEST(ColumnTyperTest, NullValuesAndAllMissingStayUnknown) {
  ColumnTyper typer({"NA"});
  auto c = typer.Type(Rows({"NA", ""}), 0);
  EXPECT_EQ(c->type, ColumnType::kUnknown);
  auto d = typer.Type(Rows({"NA", "4"}), 0);
  EXPECT_EQ(d->type, ColumnType::kNumeric);
  EXPECT_FALSE(d->IsValid(0));
}

TEST(ColumnTyperTest, FixedTypeConflictNamesColumnLineAndValue) {
  ColumnTyper typer;
  typer.Fix("x", ColumnType::kNumeric, "");
  auto c = typer.Type(Rows({"1", "abc"}, 10), 0);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(c.status().ToString(),
              HasSubstr("column 'x': value 'abc' at line 11 is not a number"));
}

TEST(CastColumnTest, TextCannotBecomeNumbers) {
  Column c{.name = "s", .type = ColumnType::kCategorical};
  c.strings = {"a"};
  c.valid.Resize(1, true);
  EXPECT_EQ(CastColumn(c, ColumnType::kNumeric, "").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace mlpipe::table
