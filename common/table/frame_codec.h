// Conversion between the in-memory table and its wire form, mlpipe.v1.Frame.
#ifndef MLPIPE_COMMON_TABLE_FRAME_CODEC_H_
#define MLPIPE_COMMON_TABLE_FRAME_CODEC_H_

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "common/table/table.h"
#include "mlpipe/v1/frame.pb.h"

namespace mlpipe::table {

inline std::string_view ColumnTypeName(v1::ColumnType type) {
  return ColumnTypeName(static_cast<ColumnType>(type));
}

// NUMERIC values that are all 0 or 1 go in the `bits` layout.
void ColumnToProto(const Column& column, v1::Column* out);
// Moves values out of `column`.
void ColumnToProto(Column&& column, v1::Column* out);
// As ColumnToProto, in the compact layouts of stored blocks where they apply
// (integers, timestamp deltas: see frame.proto). Never for a Frame.
void ColumnToStoredProto(Column&& column, v1::Column* out);
// As ColumnToProto for a categorical or text `column` whose values are not
// in column.strings but value(i) for each row i with a value.
void StringColumnToProto(const Column& column,
                         absl::FunctionRef<std::string_view(size_t)> value,
                         v1::Column* out);
// INVALID_ARGUMENT, naming the column, when the arrays do not match
// `num_rows` or the type.
absl::StatusOr<Column> ColumnFromProto(v1::Column&& column, size_t num_rows);

void TableToFrame(const Table& table, v1::Frame* out);
// Rows a frame may claim (frames are chunks: 65,536 rows by default).
inline constexpr int64_t kMaxFrameRows = int64_t{1} << 24;
// INVALID_ARGUMENT when a column's arrays do not cover the rows the frame
// claims (checked before anything is allocated for them).
absl::StatusOr<Table> TableFromFrame(v1::Frame&& frame);

// Whether row i of a column has a value (an empty bitmap: every row has).
inline bool ValidAt(const v1::Column& c, size_t i) {
  return c.validity().empty() ||
         ((static_cast<uint8_t>(c.validity()[i >> 3]) >> (i & 7)) & 1);
}

// Value i of a NUMERIC column in either layout (numbers or bits).
// REQUIRES: the layout's array covers row i.
inline double NumberAt(const v1::Column& c, size_t i) {
  if (!c.bits().empty())
    return (static_cast<uint8_t>(c.bits()[i >> 3]) >> (i & 7)) & 1;
  return c.numbers(static_cast<int>(i));
}
// How many rows a NUMERIC column's values cover (its layout's length).
inline size_t NumberCount(const v1::Column& c, size_t num_rows) {
  if (!c.bits().empty())
    return c.bits().size() == (num_rows + 7) / 8 ? num_rows : 0;
  return static_cast<size_t>(c.numbers_size());
}

// The rows `rows` (increasing indices into `in`) of a frame, on the wire
// form directly (dictionaries stay dictionaries). INVALID_ARGUMENT when the
// frame's arrays do not match its row count.
absl::Status FilterFrame(const v1::Frame& in, const std::vector<uint32_t>& rows,
                         v1::Frame* out);

}  // namespace mlpipe::table

#endif  // MLPIPE_COMMON_TABLE_FRAME_CODEC_H_
