#include "tests/reliability/fuzz/text_fuzz.h"

#include "common/table/frame_codec.h"
#include "common/table/utf8.h"
#include "tests/reliability/fuzz/fuzz_target.h"

namespace mlpipe::fuzz {

absl::Status AcceptBlock(table::TextRows& rows, table::ColumnTyper* typer,
                         ParsedText* out) {
  out->names = rows.names();
  for (size_t r = 0; r < rows.num_rows(); ++r) {
    auto& row = out->cells.emplace_back();
    for (size_t c = 0; c < rows.num_columns(); ++c) {
      if (rows.IsNull(r, c)) {
        row.emplace_back();
      } else {
        row.emplace_back(std::string(rows.cell(r, c)));
      }
    }
  }
  if (auto s = table::CheckUtf8(rows); !s.ok()) return s;
  for (size_t c = 0; c < rows.num_columns(); ++c) {
    auto column = typer->Type(rows, c);
    if (!column.ok()) return column.status();
    v1::Column stored;
    table::ColumnToProto(std::move(*column), &stored);
    // What ingest stores must parse back and decode (batch_reader.cc).
    v1::Column read;
    Check(read.ParseFromString(stored.SerializeAsString()),
          "a stored column does not parse");
    auto decoded = table::ColumnFromProto(std::move(read), rows.num_rows());
    Check(decoded.ok(), decoded.status().ToString());
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::fuzz
