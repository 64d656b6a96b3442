#include "common/table/text_rows.h"

namespace mlpipe::table {

void TextRows::AddColumn(std::string name) {
  names_.push_back(std::move(name));
  cells_.emplace_back(num_rows_, Cell{0, kNull});
  cells_.back().reserve(cells_.front().capacity());
}

void TextRows::EndRow(int64_t line) {
  ++num_rows_;
  for (auto& col : cells_) {
    if (col.size() < num_rows_) col.push_back({0, kNull});
  }
  lines_.push_back(line);
}

void TextRows::ClearRows() {
  for (auto& col : cells_) col.clear();
  lines_.clear();
  arena_.clear();
  num_rows_ = 0;
}

absl::Status HandOverIfFull(TextRows& rows, const BlockLimits& limits,
                            const TextRowsSink& sink, bool force) {
  if (rows.num_rows() == 0) return absl::OkStatus();
  if (!force && rows.num_rows() < limits.rows &&
      rows.arena_bytes() < limits.bytes) {
    return absl::OkStatus();
  }
  absl::Status s = sink(rows);
  rows.ClearRows();
  return s;
}

}  // namespace mlpipe::table
