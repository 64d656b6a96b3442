#include "common/features/test_data.h"

#include <cstdio>

#include "common/table/csv.h"
#include "common/table/typing.h"
#include "common/util/testing.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace mlpipe::features::testdata {

std::string CreditCsvPath() {
  return std::string(MLPIPE_SOURCE_DIR_DEFAULT) + "/examples/credit/credit.csv";
}

std::string ExamplePath(const std::string& relative_path) {
  return std::string(MLPIPE_SOURCE_DIR_DEFAULT) + "/examples/" + relative_path;
}

namespace {

std::vector<table::Table> CsvChunks(const std::string& path, size_t rows) {
  std::vector<table::Table> chunks;
  table::ColumnTyper typer;
  table::CsvOptions o;
  o.block.rows = rows;
  table::CsvParser parser(o, [&](table::TextRows& text) {
    table::Table t;
    t.num_rows = text.num_rows();
    for (size_t c = 0; c < text.num_columns(); ++c) {
      auto col = typer.Type(text, c);
      EXPECT_TRUE(col.ok()) << col.status();
      t.columns.push_back(std::move(*col));
    }
    chunks.push_back(std::move(t));
    return absl::OkStatus();
  });
  EXPECT_TRUE(parser.Feed(testing::ReadFile(path)).ok());
  EXPECT_TRUE(parser.Finish().ok());
  return chunks;
}

}  // namespace

std::vector<table::Table> CreditChunks(size_t rows) {
  return CsvChunks(CreditCsvPath(), rows);
}

table::Table Example(const std::string& relative_path) {
  auto chunks = CsvChunks(ExamplePath(relative_path), 1 << 30);
  EXPECT_EQ(chunks.size(), 1u);
  return std::move(chunks.front());
}

table::Table Credit() {
  auto chunks = CreditChunks(1 << 20);
  EXPECT_EQ(chunks.size(), 1u);
  return std::move(chunks.front());
}

google::protobuf::Struct PythonJson(const std::string& script,
                                    const std::vector<std::string>& args) {
  testing::TempDir dir;
  std::string py = dir.path() + "/ref.py";
  testing::WriteFile(py, script);
  std::string cmd = "/usr/bin/python3 " + py + " " + CreditCsvPath();
  for (const auto& a : args) cmd += " '" + a + "'";
  FILE* p = popen(cmd.c_str(), "r");
  std::string json;
  char buf[4096];
  size_t n;
  while (p && (n = fread(buf, 1, sizeof(buf), p)) > 0) json.append(buf, n);
  EXPECT_EQ(p ? pclose(p) : -1, 0)
      << "reference script failed (Debian python3-pandas, "
         "python3-sklearn, python3-xgboost installed?)";
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok())
      << json;
  return s;
}

}  // namespace mlpipe::features::testdata
