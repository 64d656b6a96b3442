#include "common/table/frame_codec.h"

#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::table {
namespace {

TEST(FrameCodecTest, RoundTripKeepsValuesAndMissing) {
  Table t;
  t.num_rows = 70;  // More than one bitmap word.
  Column num{.name = "n", .type = ColumnType::kNumeric};
  Column str{.name = "s", .type = ColumnType::kCategorical};
  for (int i = 0; i < 70; ++i) {
    num.numbers.push_back(i * 0.5);
    num.valid.PushBack(i % 7 != 0);
    str.strings.push_back(i % 3 ? "a" : "");
    str.valid.PushBack(i % 3 != 0);
  }
  t.columns = {num, str};
  v1::Frame frame;
  TableToFrame(t, &frame);
  auto back = TableFromFrame(std::move(frame));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->num_rows, 70u);
  for (int i = 0; i < 70; ++i) {
    EXPECT_EQ(back->columns[0].IsValid(i), i % 7 != 0);
    EXPECT_EQ(back->columns[0].numbers[i], i * 0.5);
    EXPECT_EQ(back->columns[1].IsValid(i), i % 3 != 0);
  }
}

TEST(FrameCodecTest, RepeatedStringsUseADictionaryAndDecodeBack) {
  Column c{.name = "city", .type = ColumnType::kCategorical};
  for (int i = 0; i < 100; ++i) {
    c.strings.push_back(i % 3 == 0 ? "Oslo" : "Lima");
    c.valid.PushBack(i % 10 != 0);
  }
  v1::Column proto;
  ColumnToProto(c, &proto);
  EXPECT_EQ(proto.dictionary_size(), 2);
  EXPECT_EQ(proto.strings_size(), 0);
  auto back = ColumnFromProto(std::move(proto), 100);
  ASSERT_TRUE(back.ok()) << back.status();
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(back->IsValid(i), i % 10 != 0);
    if (back->IsValid(i)) {
      EXPECT_EQ(back->strings[i], c.strings[i]);
    }
  }
  // Mostly distinct values stay plain.
  Column u{.name = "id", .type = ColumnType::kText};
  for (int i = 0; i < 100; ++i) {
    u.strings.push_back("id" + std::to_string(i));
    u.valid.PushBack(true);
  }
  v1::Column plain;
  ColumnToProto(u, &plain);
  EXPECT_EQ(plain.dictionary_size(), 0);
  EXPECT_EQ(plain.strings_size(), 100);
}

// Short values (looked up as one integer) and long ones, values that differ
// only by trailing NUL bytes or length, and the empty string, each keep
// their own dictionary entry; StringColumnToProto encodes the same.
TEST(FrameCodecTest, DictionaryTellsApartValuesThatShareBytes) {
  using namespace std::string_literals;
  const std::vector<std::string> values = {
      ""s,          "a"s,        "a\0"s,       "a\0\0"s, "\0"s,    "abcdefg"s,
      "abcdefg\0"s, "abcdefgh"s, "abcdefghi"s, "\x07"s,  "\x01a"s, "b"s,
      "abc"s,       "axc"s,      "abcd"s,      "abxd"s,  "abcde"s, "abxde"s,
      "abcdef"s,    "abcxef"s,   "ab"s};
  Column c{.name = "v", .type = ColumnType::kCategorical};
  for (int i = 0; i < 200; ++i) {
    c.strings.push_back(values[i % values.size()]);
    c.valid.PushBack(i % 17 != 0);
  }
  v1::Column proto, viewed;
  ColumnToProto(c, &proto);
  ASSERT_EQ(proto.dictionary_size(), static_cast<int>(values.size()));
  StringColumnToProto(
      c, [&](size_t i) -> std::string_view { return c.strings[i]; }, &viewed);
  EXPECT_EQ(viewed.SerializeAsString(), proto.SerializeAsString());
  auto back = ColumnFromProto(std::move(proto), c.size());
  ASSERT_TRUE(back.ok()) << back.status();
  for (size_t i = 0; i < c.size(); ++i) {
    ASSERT_EQ(back->IsValid(i), c.IsValid(i));
    if (c.IsValid(i)) ASSERT_EQ(back->strings[i], c.strings[i]) << i;
  }
}

// Stored blocks: whole numbers as integers, timestamps as deltas (missing
// rows, extremes whose differences wrap); other numbers stay doubles, and
// every value (and the sign of zero) decodes as it was.
TEST(FrameCodecTest, StoredLayoutsDecodeToTheSameValues) {
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  Column ts{.name = "t", .type = ColumnType::kTimestamp};
  Column ints{.name = "i", .type = ColumnType::kNumeric};
  Column reals{.name = "r", .type = ColumnType::kNumeric};
  const std::vector<int64_t> times = {978307260000000, kMin, kMax, 0, -5, 7};
  for (int i = 0; i < 40; ++i) {
    const bool valid = i % 5 != 3;
    ts.timestamps.push_back(valid ? times[i % times.size()] : 0);
    ts.valid.PushBack(valid);
    ints.numbers.push_back(valid ? (i % 2 ? -1.0 : 1.0) * i * 9007199254740.0
                                 : 0);
    ints.valid.PushBack(valid);
    reals.numbers.push_back(i == 7 ? -0.0 : i);  // -0 is not an integer.
    reals.valid.PushBack(true);
  }
  for (const Column& c : {ts, ints, reals}) {
    v1::Column proto;
    ColumnToStoredProto(Column(c), &proto);
    if (&c == &ts) EXPECT_EQ(proto.timestamp_deltas_size(), 40);
    if (&c == &ints) EXPECT_EQ(proto.integers_size(), 40);
    if (&c == &reals) EXPECT_EQ(proto.numbers_size(), 40);
    auto back = ColumnFromProto(std::move(proto), c.size());
    ASSERT_TRUE(back.ok()) << back.status();
    for (size_t i = 0; i < c.size(); ++i) {
      ASSERT_EQ(back->IsValid(i), c.IsValid(i));
      if (c.type == ColumnType::kTimestamp) {
        EXPECT_EQ(back->timestamps[i], c.timestamps[i]) << i;
      } else {
        EXPECT_EQ(back->numbers[i], c.numbers[i]) << i;
        EXPECT_EQ(std::signbit(back->numbers[i]), std::signbit(c.numbers[i]));
      }
    }
  }
  v1::Column short_deltas;
  ColumnToStoredProto(Column(ts), &short_deltas);
  short_deltas.mutable_timestamp_deltas()->RemoveLast();
  EXPECT_FALSE(ColumnFromProto(std::move(short_deltas), 40).ok());
}

TEST(FrameCodecTest, CodeOutsideDictionaryIsAnError) {
  v1::Column proto;
  proto.set_name("c");
  proto.set_type(v1::CATEGORICAL);
  proto.add_dictionary("a");
  proto.add_codes(0);
  proto.add_codes(5);
  auto c = ColumnFromProto(std::move(proto), 2);
  EXPECT_THAT(c.status().ToString(),
              ::testing::HasSubstr("outside the dictionary"));
}

TEST(FrameCodecTest, ZeroOneColumnsTravelAsBits) {
  Column hot{.name = "origin=ATL", .type = ColumnType::kNumeric};
  for (int i = 0; i < 100; ++i) {
    hot.numbers.push_back(i % 3 == 0 ? 1.0 : 0.0);
    hot.valid.PushBack(i % 10 != 5);
  }
  hot.numbers[5] = 0;  // Missing entries are 0.
  v1::Column proto;
  ColumnToProto(hot, &proto);
  EXPECT_EQ(proto.numbers_size(), 0);
  EXPECT_EQ(proto.bits().size(), 13u);
  EXPECT_EQ(NumberAt(proto, 3), 1.0);
  EXPECT_EQ(NumberAt(proto, 4), 0.0);
  // Filtered on the wire form, bits stay bits.
  v1::Frame frame, filtered;
  *frame.add_columns() = proto;
  frame.set_num_rows(100);
  ASSERT_TRUE(FilterFrame(frame, {3, 4, 5, 99}, &filtered).ok());
  const v1::Column& f = filtered.columns(0);
  EXPECT_EQ(f.numbers_size(), 0);
  EXPECT_EQ(NumberAt(f, 0), 1.0);
  EXPECT_EQ(NumberAt(f, 1), 0.0);
  EXPECT_EQ(NumberAt(f, 3), 1.0);
  EXPECT_FALSE((static_cast<uint8_t>(f.validity()[0]) >> 2) & 1);
  auto back = ColumnFromProto(std::move(proto), 100);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->numbers, hot.numbers);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(back->IsValid(i), i % 10 != 5);
  // -0, 2 or a handful of rows keep the numbers layout.
  for (double odd : {-0.0, 2.0}) {
    Column c = hot;
    c.numbers[7] = odd;
    v1::Column p;
    ColumnToProto(c, &p);
    EXPECT_EQ(p.numbers_size(), 100);
    EXPECT_TRUE(p.bits().empty());
  }
  Column small{.name = "s", .type = ColumnType::kNumeric};
  small.numbers = {0, 1, 1};
  small.valid.Resize(3, true);
  v1::Column sp;
  ColumnToProto(small, &sp);
  EXPECT_EQ(sp.numbers_size(), 3);
  // Bits of the wrong length are named.
  v1::Column bad;
  bad.set_name("b");
  bad.set_type(v1::NUMERIC);
  bad.set_bits(std::string(2, '\1'));
  EXPECT_THAT(ColumnFromProto(std::move(bad), 100).status().ToString(),
              ::testing::HasSubstr("column 'b': bits (bytes) has 2 entries"));
}

TEST(FrameCodecTest, MismatchedLengthsNameTheColumn) {
  v1::Frame frame;
  frame.set_num_rows(3);
  auto* c = frame.add_columns();
  c->set_name("price");
  c->set_type(v1::NUMERIC);
  c->add_numbers(1);
  auto t = TableFromFrame(std::move(frame));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().ToString(),
              ::testing::HasSubstr("column 'price': numbers has 1 entries"));
}

// A frame claiming more rows than it carries is refused before anything is
// allocated for them (a few bytes once claimed billions of rows).
TEST(FrameCodecTest, ClaimedRowsAreCheckedBeforeAllocating) {
  for (auto type : {v1::NUMERIC, v1::TIMESTAMP, v1::CATEGORICAL}) {
    v1::Frame frame;
    frame.set_num_rows(kMaxFrameRows);
    auto* c = frame.add_columns();
    c->set_name("x");
    c->set_type(type);
    auto t = TableFromFrame(std::move(frame));
    EXPECT_TRUE(absl::IsInvalidArgument(t.status())) << type;
    EXPECT_THAT(t.status().ToString(),
                ::testing::HasSubstr("has 0 entries for 16777216 rows"));
  }
  v1::Frame huge;
  huge.set_num_rows(int64_t{1} << 40);
  EXPECT_THAT(TableFromFrame(std::move(huge)).status().ToString(),
              ::testing::HasSubstr("num_rows 1099511627776 is not in"));
}

}  // namespace
}  // namespace mlpipe::table
