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
