// Rows of text cells as read from CSV or JSON lines, before typing. Cells are
// stored column by column as views into one byte arena, so a block of rows is
// a few large allocations rather than one string per cell.
#ifndef MLPIPE_COMMON_TABLE_TEXT_ROWS_H_
#define MLPIPE_COMMON_TABLE_TEXT_ROWS_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace mlpipe::table {

class TextRows {
 public:
  static constexpr uint32_t kNull = UINT32_MAX;  // A cell with no value at all.
  struct Cell {
    uint32_t offset;
    uint32_t length;  // kNull: no value (JSON null, absent key).
  };

  // Adds a column; rows already present get null cells in it.
  void AddColumn(std::string name);
  size_t num_columns() const { return names_.size(); }
  size_t num_rows() const { return num_rows_; }
  const std::vector<std::string>& names() const { return names_; }

  // The arena that cell bytes are appended to before a cell is ended.
  std::string& arena() { return arena_; }
  const std::string& arena() const { return arena_; }
  size_t arena_bytes() const { return arena_.size(); }
  // Ends a cell of column `col` whose bytes start at `offset` in the arena
  // and run to its end.
  void EndCell(size_t col, uint32_t offset) {
    AddCell(col, offset, static_cast<uint32_t>(arena_.size() - offset));
  }
  // Adds a cell of column `col`: `length` bytes at `offset` in the arena.
  void AddCell(size_t col, uint32_t offset, uint32_t length) {
    cells_[col].push_back({offset, length});
  }
  void AddNullCell(size_t col) { cells_[col].push_back({0, kNull}); }
  // Ends the row: columns that got no cell in it get a null cell. `line` is
  // the input line the row started on, for error messages.
  void EndRow(int64_t line);
  // Ends a row that has a cell in every column.
  void EndFullRow(int64_t line) {
    ++num_rows_;
    lines_.push_back(line);
  }

  bool IsNull(size_t row, size_t col) const {
    return cells_[col][row].length == kNull;
  }
  std::string_view cell(size_t row, size_t col) const {
    const Cell& c = cells_[col][row];
    return c.length == kNull
               ? std::string_view()
               : std::string_view(arena_.data() + c.offset, c.length);
  }
  int64_t line(size_t row) const { return lines_[row]; }
  // Cells of the current (unfinished) row so far, for column `col`.
  size_t cells_in_column(size_t col) const { return cells_[col].size(); }

  // A new, empty TextRows with the same columns.
  TextRows EmptyCopy() const {
    TextRows t;
    for (const auto& n : names_) t.AddColumn(n);
    return t;
  }

  // Drops the rows, keeps the columns.
  void ClearRows();

 private:
  std::vector<std::string> names_;
  std::vector<std::vector<Cell>> cells_;
  std::vector<int64_t> lines_;
  std::string arena_;
  size_t num_rows_ = 0;
};

// Receives each full block of rows from a parser. It takes the rows it needs
// (it may swap in an empty TextRows); the parser clears what is left.
using TextRowsSink = std::function<absl::Status(TextRows& rows)>;

// When a parser hands a block over.
struct BlockLimits {
  size_t rows = 65536;  // Rows per block, at most. Default 65536.
  // Hand over early past this many bytes: of cells (JSON lines), of input
  // read into the block (CSV). 16 MiB.
  size_t bytes = 16 << 20;
};

// Hands `rows` to `sink` when it is full by `limits` (or, with `force`, when
// it has any row), then clears it.
absl::Status HandOverIfFull(TextRows& rows, const BlockLimits& limits,
                            const TextRowsSink& sink, bool force);

}  // namespace mlpipe::table

#endif  // MLPIPE_COMMON_TABLE_TEXT_ROWS_H_
