#include "common/table/jsonl.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::table {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Status Parse(std::string_view input, std::vector<std::string>* names,
                   std::vector<std::vector<std::string>>* rows,
                   size_t piece = 0) {
  JsonLinesParser parser({}, [&](TextRows& t) {
    *names = t.names();
    for (size_t r = 0; r < t.num_rows(); ++r) {
      std::vector<std::string> row;
      for (size_t c = 0; c < t.num_columns(); ++c) {
        row.push_back(t.IsNull(r, c) ? "<null>" : std::string(t.cell(r, c)));
      }
      rows->push_back(row);
    }
    return absl::OkStatus();
  });
  if (piece == 0) piece = input.size() + 1;
  for (size_t i = 0; i < input.size(); i += piece) {
    if (auto s = parser.Feed(input.substr(i, piece)); !s.ok()) return s;
  }
  return parser.Finish();
}

TEST(JsonLinesTest, ScalarsNullsAndKeysInFirstSeenOrder) {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> rows;
  ASSERT_TRUE(Parse("{\"a\": 1.5, \"b\": \"x\\\"y\\u00e9\"}\n"
                    "{\"b\": null, \"c\": true}\n"
                    "\n"
                    "{\"a\": -2e3}",
                    &names, &rows, 5)
                  .ok());
  EXPECT_THAT(names, ElementsAre("a", "b", "c"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_THAT(rows[0], ElementsAre("1.5", "x\"yé", "<null>"));
  EXPECT_THAT(rows[1], ElementsAre("<null>", "<null>", "true"));
  EXPECT_THAT(rows[2], ElementsAre("-2e3", "<null>", "<null>"));
}

TEST(JsonLinesTest, ErrorsNameLineAndField) {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> rows;
  EXPECT_THAT(Parse("{\"a\":1}\n{\"a\":{\"x\":1}}\n", &names, &rows).ToString(),
              HasSubstr("line 2: field 'a': nested objects"));
  EXPECT_THAT(Parse("{\"a\":1,\"a\":2}\n", &names, &rows).ToString(),
              HasSubstr("line 1: field 'a' appears twice"));
  EXPECT_THAT(Parse("[1,2]\n", &names, &rows).ToString(),
              HasSubstr("line 1: expected a JSON object"));
  EXPECT_THAT(Parse("{\"a\":01}\n", &names, &rows).ToString(),
              HasSubstr("bad number '01'"));
  EXPECT_THAT(Parse("", &names, &rows).ToString(), HasSubstr("empty input"));
}

}  // namespace
}  // namespace mlpipe::table
