// bench/prep, the mlpipe side: statistics of every column, then fit and apply
// the transforms of transforms.json, on a CSV loaded beforehand (untimed).
// Prints one JSON line: seconds for each phase and the output shape.
#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/features/statistics.h"
#include "common/features/transform.h"
#include "common/table/csv.h"
#include "common/table/typing.h"
#include "google/protobuf/util/json_util.h"

using namespace mlpipe;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: prep_bench DATA.csv TRANSFORMS.json\n";
    return 2;
  }
  // Load (untimed): columns typed as ingest types them.
  std::vector<table::Table> chunks;
  table::ColumnTyper typer;
  table::CsvParser parser({}, [&](table::TextRows& rows) {
    table::Table t;
    t.num_rows = rows.num_rows();
    for (size_t c = 0; c < rows.num_columns(); ++c)
      t.columns.push_back(*typer.Type(rows, c));
    chunks.push_back(std::move(t));
    return absl::OkStatus();
  });
  std::ifstream in(argv[1], std::ios::binary);
  std::string buf(1 << 22, '\0');
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
    if (!parser.Feed(std::string_view(buf.data(), in.gcount())).ok()) return 1;
  }
  if (!parser.Finish().ok()) return 1;
  table::Table data;
  for (auto& chunk : chunks) {
    if (data.columns.empty()) {
      data = std::move(chunk);
      continue;
    }
    for (size_t c = 0; c < chunk.columns.size(); ++c) {
      auto& dst = data.columns[c];
      auto& src = chunk.columns[c];
      dst.numbers.insert(dst.numbers.end(), src.numbers.begin(),
                         src.numbers.end());
      dst.timestamps.insert(dst.timestamps.end(), src.timestamps.begin(),
                            src.timestamps.end());
      for (auto& s : src.strings) dst.strings.push_back(std::move(s));
      for (size_t r = 0; r < src.size(); ++r)
        dst.valid.PushBack(src.valid.Get(r));
    }
    data.num_rows += chunk.num_rows;
  }
  std::ifstream spec_file(argv[2]);
  std::stringstream spec_text;
  spec_text << spec_file.rdbuf();
  google::protobuf::ListValue list;
  if (!google::protobuf::util::JsonStringToMessage(spec_text.str(), &list).ok())
    return 1;
  auto specs = features::ParseTransformSpecs(list);
  if (!specs.ok()) {
    std::cerr << specs.status() << "\n";
    return 1;
  }

  auto t0 = Clock::now();
  features::TableStatisticsAccumulator stats;
  if (!stats.Add(data).ok()) return 1;
  v1::DatasetStatistics s = stats.Finish();
  auto t1 = Clock::now();
  auto fitted = features::FitTransform(*specs, data);
  if (!fitted.ok()) {
    std::cerr << fitted.status() << "\n";
    return 1;
  }
  auto t2 = Clock::now();
  features::TransformApplier applier(*fitted);
  auto out = applier.ApplyBatch(data);
  if (!out.ok()) return 1;
  auto t3 = Clock::now();
  auto secs = [](auto a, auto b) {
    return std::chrono::duration<double>(b - a).count();
  };
  std::cout << "{\"statistics\": " << secs(t0, t1)
            << ", \"fit\": " << secs(t1, t2) << ", \"apply\": " << secs(t2, t3)
            << ", \"total\": " << secs(t0, t3)
            << ", \"rows\": " << out->num_rows
            << ", \"features\": " << out->columns.size()
            << ", \"columns_with_stats\": " << s.columns_size() << "}\n";
  return 0;
}
