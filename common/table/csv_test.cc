#include "common/table/csv.h"

#include <algorithm>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::table {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Parsed {
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> rows;  // "<null>" for missing.
  std::vector<int64_t> lines;
  int blocks = 0;
};

// Parses `input` fed in pieces of `piece` bytes (0: all at once).
absl::Status Parse(std::string_view input, Parsed* out, size_t piece = 0,
                   CsvOptions options = {}) {
  CsvParser parser(options, [&](TextRows& rows) {
    ++out->blocks;
    for (size_t r = 0; r < rows.num_rows(); ++r) {
      std::vector<std::string> row;
      for (size_t c = 0; c < rows.num_columns(); ++c) {
        row.push_back(rows.IsNull(r, c) ? "<null>"
                                        : std::string(rows.cell(r, c)));
      }
      out->rows.push_back(row);
      out->lines.push_back(rows.line(r));
    }
    return absl::OkStatus();
  });
  if (piece == 0) piece = input.size() + 1;
  for (size_t i = 0; i < input.size(); i += piece) {
    if (auto s = parser.Feed(input.substr(i, piece)); !s.ok()) return s;
  }
  auto s = parser.Finish();
  out->names = parser.column_names();
  return s;
}

TEST(CsvParserTest, QuotesEscapedQuotesAndEmbeddedNewlines) {
  const std::string input =
      "name,comment,n\n"
      "\"Smith, J\",\"said \"\"hi\"\"\",1\n"
      "plain,\"two\nlines\",2\n";
  // Every split point must give the same result.
  for (size_t piece : {0, 1, 2, 3, 7}) {
    Parsed p;
    ASSERT_TRUE(Parse(input, &p, piece).ok()) << piece;
    EXPECT_THAT(p.names, ElementsAre("name", "comment", "n"));
    ASSERT_EQ(p.rows.size(), 2u);
    EXPECT_THAT(p.rows[0], ElementsAre("Smith, J", "said \"hi\"", "1"));
    EXPECT_THAT(p.rows[1], ElementsAre("plain", "two\nlines", "2"));
    EXPECT_THAT(p.lines, ElementsAre(2, 3));
  }
}

TEST(CsvParserTest, CrlfAndMissingFinalNewline) {
  Parsed p;
  ASSERT_TRUE(Parse("a,b\r\n1,2\r\n3,\r\n,4", &p, 1).ok());
  ASSERT_EQ(p.rows.size(), 3u);
  EXPECT_THAT(p.rows[1], ElementsAre("3", ""));
  EXPECT_THAT(p.rows[2], ElementsAre("", "4"));
  EXPECT_THAT(p.lines, ElementsAre(2, 3, 4));
}

TEST(CsvParserTest, RaggedRowIsAnErrorNamingTheLine) {
  Parsed p;
  auto s = Parse("a,b,c\n1,2,3\n4,5\n", &p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.ToString(), HasSubstr("line 3: expected 3 fields, found 2"));
  Parsed q;
  s = Parse("a,b\n\"x\ny\",1\n1,2,3\n", &q);
  EXPECT_THAT(s.ToString(), HasSubstr("line 4: expected 2 fields, found 3"));
}

TEST(CsvParserTest, Utf8PassesThroughUnchanged) {
  Parsed p;
  ASSERT_TRUE(Parse("città,名前\nZürich,東京 🚆\n", &p, 3).ok());
  EXPECT_THAT(p.names, ElementsAre("città", "名前"));
  EXPECT_THAT(p.rows[0], ElementsAre("Zürich", "東京 🚆"));
}

TEST(CsvParserTest, EmptyInputIsAnErrorHeaderOnlyIsNot) {
  Parsed p;
  EXPECT_THAT(Parse("", &p).ToString(), HasSubstr("empty input"));
  Parsed q;
  ASSERT_TRUE(Parse("a,b\n", &q).ok());
  EXPECT_THAT(q.names, ElementsAre("a", "b"));
  EXPECT_TRUE(q.rows.empty());
}

TEST(CsvParserTest, UnclosedQuoteNamesTheLineItStarted) {
  Parsed p;
  auto s = Parse("a,b\n1,\"open\n\n\n", &p);
  EXPECT_THAT(s.ToString(), HasSubstr("line 2: quoted field is not closed"));
}

TEST(CsvParserTest, TextAfterClosingQuoteIsAnError) {
  Parsed p;
  auto s = Parse("a\n\"x\"y\n", &p);
  EXPECT_THAT(s.ToString(), HasSubstr("line 2: unexpected character 'y'"));
}

TEST(CsvParserTest, DuplicateHeaderIsAnError) {
  Parsed p;
  EXPECT_THAT(Parse("a,b,a\n1,2,3\n", &p).ToString(),
              HasSubstr("duplicate column name 'a'"));
}

TEST(CsvParserTest, DelimiterNoHeaderAndBlankLines) {
  Parsed p;
  CsvOptions o;
  o.delimiter = ';';
  o.header = false;
  ASSERT_TRUE(Parse("1;x,y\n\n2;z\n", &p, 0, o).ok());
  EXPECT_THAT(p.names, ElementsAre("c0", "c1"));
  ASSERT_EQ(p.rows.size(), 2u);
  EXPECT_THAT(p.rows[0], ElementsAre("1", "x,y"));
  EXPECT_THAT(p.lines, ElementsAre(1, 3));
}

TEST(CsvParserTest, BlocksAreBoundedByRows) {
  std::string input = "a\n";
  for (int i = 0; i < 10; ++i) input += std::to_string(i) + "\n";
  Parsed p;
  CsvOptions o;
  o.block.rows = 3;
  ASSERT_TRUE(Parse(input, &p, 4, o).ok());
  EXPECT_EQ(p.blocks, 4);
  EXPECT_EQ(p.rows.size(), 10u);
  EXPECT_EQ(p.rows[9][0], "9");
}

TEST(CsvParserTest, OversizedRecordIsAnError) {
  Parsed p;
  CsvOptions o;
  o.max_record_bytes = 100;
  auto s = Parse("a\n\"" + std::string(1000, 'x'), &p, 10, o);
  EXPECT_THAT(s.ToString(), HasSubstr("record longer than 100 bytes"));
}

// Random tables written with AppendCsvField (quotes, doubled quotes, line
// ends and delimiters inside values; LF or CRLF rows) read back the same,
// fed whole or in pieces of any size, with blocks of a few rows.
TEST(CsvParserTest, RandomTablesRoundTripInAnyPieces) {
  std::mt19937 rng(11);
  const std::string alphabet = "ab,\"\n\r x\xC3\xA9";
  for (int round = 0; round < 300; ++round) {
    const size_t cols = 1 + rng() % 4, nrows = rng() % 12;
    const std::string eol = rng() % 2 ? "\n" : "\r\n";
    std::string input;
    std::vector<std::vector<std::string>> want;
    std::vector<int64_t> want_lines;
    int64_t line = 1;
    for (size_t r = 0; r <= nrows; ++r) {  // Row 0: the header.
      std::vector<std::string> row;
      for (size_t c = 0; c < cols; ++c) {
        std::string v = r == 0 ? "h" + std::to_string(c) : "";
        for (size_t k = r == 0 ? 0 : rng() % 6; k > 0; --k)
          v.push_back(alphabet[rng() % alphabet.size()]);
        if (c > 0) input.push_back(',');
        AppendCsvField(v, ',', &input);
        row.push_back(v);
      }
      if (r > 0) want.push_back(row);
      if (r > 0) want_lines.push_back(line);
      // Lines are counted by LF inside quoted values.
      for (const auto& v : row) line += std::count(v.begin(), v.end(), '\n');
      input += eol;
      ++line;
    }
    for (size_t piece : {size_t{0}, size_t{1}, size_t{1 + rng() % 17}}) {
      Parsed p;
      CsvOptions o;
      o.block.rows = 1 + rng() % 4;
      ASSERT_TRUE(Parse(input, &p, piece, o).ok()) << input;
      ASSERT_EQ(p.rows, want) << "piece " << piece << " input:\n" << input;
      ASSERT_EQ(p.lines, want_lines) << input;
    }
  }
}

TEST(CsvWriterTest, QuotesOnlyWhenNeeded) {
  std::string out;
  AppendCsvField("plain", ',', &out);
  out += '|';
  AppendCsvField("a,b", ',', &out);
  out += '|';
  AppendCsvField("say \"x\"", ',', &out);
  out += '|';
  AppendCsvField("", ',', &out);
  out += '|';
  AppendCsvField("two\nlines", ',', &out);
  EXPECT_EQ(out, "plain|\"a,b\"|\"say \"\"x\"\"\"|\"\"|\"two\nlines\"");
}

}  // namespace
}  // namespace mlpipe::table
