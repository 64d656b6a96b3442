// Reading a dataset version: its batches' blocks in order, each column cast
// to the dataset's type, cut into frames within the size limits.

#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "services/ingest/ingestor_internal.h"

namespace mlpipe::ingest {
namespace {

// Reads blocks of a dataset's batches in order, casts each column to the
// dataset's type, and cuts frames to the size limits.
class FrameReaderImpl final : public FrameReader {
 public:
  FrameReaderImpl(const storage::Store* store, std::vector<v1::Batch> batches,
                  std::vector<v1::Field> fields, size_t max_rows,
                  size_t target_bytes)
      : store_(store),
        batches_(std::move(batches)),
        fields_(std::move(fields)),
        max_rows_(max_rows),
        target_bytes_(target_bytes) {}

  absl::StatusOr<bool> Next(v1::Frame* frame) override {
    while (pos_ >= block_.num_rows) {
      auto more = LoadNextBlock();
      if (!more.ok()) return more.status();
      if (!*more) return false;
    }
    size_t remaining = block_.num_rows - pos_;
    size_t bytes = 0;
    for (const auto& c : block_.columns) bytes += c.ApproximateBytes();
    size_t row_bytes =
        std::max<size_t>(1, bytes / std::max<size_t>(1, block_.num_rows));
    size_t n = std::min(
        {remaining, max_rows_, std::max<size_t>(1, target_bytes_ / row_bytes)});
    frame->Clear();
    frame->set_num_rows(static_cast<int64_t>(n));
    frame->set_row_offset(offset_);
    for (const auto& c : block_.columns) {
      if (n == block_.num_rows) {
        table::ColumnToProto(c, frame->add_columns());
      } else {
        table::ColumnToProto(c.Slice(pos_, n), frame->add_columns());
      }
    }
    pos_ += n;
    offset_ += static_cast<int64_t>(n);
    return true;
  }

 private:
  absl::StatusOr<bool> LoadNextBlock() {
    while (batch_ < batches_.size() &&
           block_index_ >=
               static_cast<size_t>(batches_[batch_].block_row_counts_size())) {
      ++batch_;
      block_index_ = 0;
    }
    if (batch_ >= batches_.size()) return false;
    const v1::Batch& b = batches_[batch_];
    const size_t rows = static_cast<size_t>(b.block_row_counts(block_index_));
    block_ = table::Table();
    block_.num_rows = rows;
    for (const auto& f : fields_) {
      int idx = -1;
      for (int i = 0; i < b.schema().fields_size(); ++i) {
        if (b.schema().fields(i).name() == f.name()) idx = i;
      }
      table::Column col;
      if (idx < 0) {
        col.name = f.name();
        col.valid.Resize(rows, false);
      } else {
        auto proto = GetProto<v1::Column>(
            store_, kBlocks,
            BlockKey(b.id(), static_cast<uint32_t>(block_index_), idx));
        if (!proto.ok()) {
          return absl::DataLossError(StrCat("batch ", b.id(), " block ",
                                            block_index_, " column '", f.name(),
                                            "': ", proto.status().message()));
        }
        auto decoded = table::ColumnFromProto(std::move(*proto), rows);
        if (!decoded.ok())
          return absl::DataLossError(decoded.status().message());
        if (decoded->name != f.name()) {
          return absl::DataLossError(
              StrCat("batch ", b.id(), " block ", block_index_, " column '",
                     f.name(), "' holds column '", decoded->name, "'"));
        }
        col = std::move(*decoded);
      }
      auto cast = table::CastColumn(std::move(col),
                                    static_cast<table::ColumnType>(f.type()),
                                    f.timestamp_format());
      if (!cast.ok()) return cast.status();
      block_.columns.push_back(std::move(*cast));
    }
    ++block_index_;
    pos_ = 0;
    return true;
  }

  const storage::Store* const store_;
  const std::vector<v1::Batch> batches_;
  const std::vector<v1::Field> fields_;
  const size_t max_rows_;
  const size_t target_bytes_;
  size_t batch_ = 0;
  size_t block_index_ = 0;
  table::Table block_;
  size_t pos_ = 0;
  int64_t offset_ = 0;
};

}  // namespace

std::unique_ptr<FrameReader> NewBatchReader(const storage::Store* store,
                                            std::vector<v1::Batch> batches,
                                            std::vector<v1::Field> fields,
                                            size_t max_rows,
                                            size_t target_bytes) {
  return std::make_unique<FrameReaderImpl>(
      store, std::move(batches), std::move(fields), max_rows, target_bytes);
}

}  // namespace mlpipe::ingest
