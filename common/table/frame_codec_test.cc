#include "common/table/frame_codec.h"

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

}  // namespace
}  // namespace mlpipe::table
