// An upload: rows parsed on the caller's thread, typed on one thread of the
// upload's own, encoded and stored as blocks on another, committed as one
// batch.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <optional>
#include <thread>
#include <variant>

#include "common/table/csv.h"
#include "common/table/frame_codec.h"
#include "common/table/jsonl.h"
#include "common/table/typing.h"
#include "common/table/utf8.h"
#include "common/util/ids.h"
#include "common/util/sha256.h"
#include "google/protobuf/util/time_util.h"
#include "services/ingest/ingestor_internal.h"
#include "services/ingest/row_hashes.h"

namespace mlpipe::ingest {
namespace {

using google::protobuf::util::TimeUtil;

// An upload: parses on the caller's thread; types blocks on a thread of its
// own and encodes and stores them on another, so the three overlap.
class UploadImpl final : public Upload {
 public:
  UploadImpl(CommitFn commit, storage::Store* store,
             const IngestorOptions& options, v1::IngestHeader header,
             std::optional<v1::Dataset> existing, std::string replay_batch,
             std::function<void()> release)
      : commit_(std::move(commit)),
        store_(store),
        options_(options),
        header_(std::move(header)),
        existing_(std::move(existing)),
        replay_batch_(std::move(replay_batch)),
        release_(std::move(release)),
        start_(Clock::now()),
        typer_(std::vector<std::string>(header_.null_values().begin(),
                                        header_.null_values().end())) {
    batch_id_ = NewId("b");
    keep_hashes_ = header_.mode() != v1::REPLACE && existing_ &&
                   existing_->row_count() > 0;
    if (existing_) {
      for (const auto& f : existing_->schema().fields()) {
        typer_.Fix(f.name(), static_cast<table::ColumnType>(f.type()),
                   f.timestamp_format());
      }
    }
    for (const auto& [name, type] : header_.types())  // Checked: see header.
      typer_.Fix(name, static_cast<table::ColumnType>(type), "");
    latin1_ = IsLatin1(header_.encoding());
    auto sink = [this](table::TextRows& rows) {
      return Enqueue(std::exchange(rows, RecycledRows(rows)));
    };
    if (header_.format() == v1::JSONL) {
      table::JsonLinesOptions o;
      o.block.rows = options_.block_rows;
      jsonl_ = std::make_unique<table::JsonLinesParser>(o, sink);
    } else if (header_.format() != v1::FRAMES) {
      table::CsvOptions o;
      o.block.rows = options_.block_rows;
      o.header = !header_.no_header();
      if (!header_.delimiter().empty()) o.delimiter = header_.delimiter()[0];
      csv_ = std::make_unique<table::CsvParser>(o, sink);
    }
  }

  ~UploadImpl() override {
    if (!done_) Abort(absl::CancelledError("upload abandoned"));
    release_();
  }

  // Writes the marker that lets a restart clean up after this upload.
  absl::Status Start() {
    if (!replay_batch_.empty()) return absl::OkStatus();
    if (auto s = store_->Put(kPending, batch_id_, header_.dataset()); !s.ok()) {
      return Fail(s);
    }
    typer_thread_ = std::thread([this] { TypeLoop(); });
    store_thread_ = std::thread([this] { StoreLoop(); });
    return absl::OkStatus();
  }

  absl::Status AddChunk(std::string_view bytes) override {
    if (done_) return absl::FailedPreconditionError("upload already finished");
    if (header_.format() == v1::FRAMES) {
      return Fail(absl::InvalidArgumentError(
          "chunk: this upload's format is FRAMES; send frames"));
    }
    hash_.Update(bytes);
    bytes_ += static_cast<int64_t>(bytes.size());
    if (!replay_batch_.empty()) return absl::OkStatus();
    auto t0 = Clock::now();
    absl::Status s = Decode(bytes);
    parse_time_ += Clock::now() - t0;
    if (!s.ok()) return Fail(s);
    return absl::OkStatus();
  }

  absl::Status AddFrame(v1::Frame&& frame) override {
    if (done_) return absl::FailedPreconditionError("upload already finished");
    if (header_.format() != v1::FRAMES) {
      return Fail(absl::InvalidArgumentError(
          "frame: this upload's format is CSV or JSONL; send chunks"));
    }
    std::string wire = frame.SerializeAsString();
    hash_.Update(wire);
    bytes_ += static_cast<int64_t>(wire.size());
    if (!replay_batch_.empty()) return absl::OkStatus();
    auto table = table::TableFromFrame(std::move(frame));
    if (!table.ok()) {
      return Fail(absl::InvalidArgumentError(
          StrCat("frame ", frames_, ": ", table.status().message())));
    }
    ++frames_;
    if (table->num_rows == 0) return absl::OkStatus();
    return Enqueue(std::move(*table));
  }

  absl::StatusOr<v1::IngestResponse> Finish() override {
    if (done_) return absl::FailedPreconditionError("upload already finished");
    std::string content_hash = hash_.HexDigest();
    if (!replay_batch_.empty()) return Replay(content_hash);
    auto receive_end = Clock::now();
    absl::Status s = EndInput();
    if (s.ok()) s = EndStages();
    if (s.ok() && csv_ && rows_ == 0) {
      // A header without rows still defines the columns.
      for (const auto& n : csv_->column_names()) ColumnIndex(n);
    }
    if (!s.ok()) return Fail(s);

    v1::Batch batch;
    batch.set_id(batch_id_);
    batch.set_dataset(header_.dataset());
    batch.set_row_count(rows_);
    for (const auto& name : columns_) {
      auto* f = batch.mutable_schema()->add_fields();
      f->set_name(name);
      auto st = typer_.states().find(name);
      if (st == typer_.states().end()) continue;  // Never typed: unknown.
      f->set_type(static_cast<v1::ColumnType>(st->second.type));
      f->set_timestamp_format(st->second.timestamp_format);
    }
    batch.set_content_hash(content_hash);
    batch.set_bytes_received(bytes_);
    batch.set_block_count(static_cast<int64_t>(block_rows_.size()));
    for (int64_t n : block_rows_) batch.add_block_row_counts(n);
    batch.set_idempotency_key(header_.idempotency_key());
    batch.set_source(header_.source().empty() ? "stream" : header_.source());
    auto* t = batch.mutable_timings();
    t->set_receive_seconds(Seconds(receive_end - start_));
    t->set_parse_seconds(Seconds(parse_time_ + type_time_));
    t->set_store_seconds(Seconds(store_time_));
    auto commit_start = Clock::now();
    // The blocks were written without the log: on disk before the commit.
    if (next_block_ > 0) {
      if (auto f = store_->Flush({kBlocks, kRowHashes}); !f.ok())
        return Fail(f);
    }
    batch.set_duplicate_rows(repeats_.Count());
    auto result = commit_(std::move(batch), header_, /*stored_before=*/false);
    if (!result.ok()) return Fail(result.status());
    done_ = true;
    for (auto& w : warnings_) result->add_warnings(std::move(w));
    double commit = Seconds(Clock::now() - commit_start);
    result->mutable_batch()->mutable_timings()->set_commit_seconds(commit);
    auto& m = Metrics::Get();
    m.rows.Increment(static_cast<double>(rows_));
    m.bytes.Increment(static_cast<double>(bytes_));
    m.batches.Increment();
    m.batch_seconds.Observe(Seconds(Clock::now() - start_));
    return result;
  }

 private:
  using Work = std::variant<table::TextRows, table::Table>;

  absl::StatusOr<v1::IngestResponse> Replay(const std::string& content_hash) {
    done_ = true;
    auto batch = GetProto<v1::Batch>(store_, kBatches, replay_batch_);
    if (!batch.ok()) return batch.status();
    if (batch->content_hash() != content_hash) {
      Metrics::Get().Reject("idempotency_conflict");
      return absl::FailedPreconditionError(StrCat(
          "header.idempotency_key: '", header_.idempotency_key(),
          "' was used for different content (batch ", replay_batch_, ")"));
    }
    return commit_(*std::move(batch), header_, /*stored_before=*/true);
  }

  // Counts a block's rows seen before in this upload, and stores their
  // hashes beside the block when an append will compare against them.
  void AddRowHashes(const std::vector<uint64_t>& hashes,
                    storage::WriteBatch* wb) {
    if (keep_hashes_) {
      wb->Put(kRowHashes, RowHashKey(batch_id_, next_block_),
              EncodeRowHashes(hashes));
    }
    repeats_.Add(hashes);
  }

  // Ends the parsers' input (the first bytes, if still held back).
  absl::Status EndInput() {
    if (header_.format() == v1::FRAMES) {
      return frames_ == 0 ? absl::InvalidArgumentError("no frames received")
                          : absl::OkStatus();
    }
    if (!head_.empty()) {
      if (auto s = Parse(std::exchange(head_, "")); !s.ok()) return s;
    }
    return csv_ ? csv_->Finish() : jsonl_->Finish();
  }

  // Bytes as UTF-8 to the parser: Latin-1 transcoded; a UTF-8 byte-order
  // mark at the start dropped (pandas drops it too).
  absl::Status Decode(std::string_view bytes) {
    if (latin1_) {
      utf8_.clear();
      table::AppendLatin1AsUtf8(bytes, &utf8_);
      return Parse(utf8_);
    }
    if (bom_checked_) return Parse(bytes);
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    head_.append(bytes);
    if (head_.size() < kBom.size() && kBom.starts_with(head_))
      return absl::OkStatus();  // Too short to tell yet.
    bom_checked_ = true;
    std::string head = std::exchange(head_, "");
    std::string_view rest = head;
    if (rest.starts_with(kBom)) rest.remove_prefix(kBom.size());
    return Parse(rest);
  }

  absl::Status Parse(std::string_view text) {
    return csv_ ? csv_->Feed(text) : jsonl_->Feed(text);
  }

  // A file read as one column that another delimiter would cut into the same
  // number (>= 2) of columns in its header and first rows gets a warning.
  void HintDelimiter(const table::TextRows& rows) {
    if (rows.num_columns() != 1) return;
    const std::string& name = rows.names()[0];
    for (char d : {';', '\t', '|', ','}) {
      const auto fields = std::count(name.begin(), name.end(), d) + 1;
      if (d == (header_.delimiter().empty() ? ',' : header_.delimiter()[0]) ||
          fields < 2)
        continue;
      bool same = true;
      for (size_t r = 0; r < std::min<size_t>(rows.num_rows(), 20); ++r) {
        std::string_view cell = rows.cell(r, 0);
        same &= std::count(cell.begin(), cell.end(), d) + 1 == fields;
      }
      if (!same) continue;
      const std::string shown = d == '\t' ? "\\t" : std::string(1, d);
      warnings_.push_back(
          StrCat("the file was read as one column ('", name.substr(0, 60),
                 name.size() > 60 ? "..." : "", "'); with delimiter '", shown,
                 "' it has ", fields, " columns (mlpipe ingest --delimiter '",
                 shown, "'; in a pipeline, delimiter: '", shown, "')"));
      return;
    }
  }

  // After parsing, blocks go through two more stages, each on a thread of
  // its own: typing (typer_, in block order) and storing (encoding, row
  // hashes, the write). Bounded queues hand blocks over; a failure stops
  // every stage.
  struct Typed {
    Work source;  // The rows (string columns' values stay there) or frame.
    std::vector<table::Column> columns;
    size_t num_rows = 0;
  };
  template <typename T>
  struct Queue {
    std::deque<T> items;  // GUARDED_BY(mu_)
    bool closed = false;  // GUARDED_BY(mu_)
  };

  template <typename T>
  absl::Status Push(Queue<T>& q, T item) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] {
      return q.items.size() < options_.store_queue_blocks || !status_.ok();
    });
    if (!status_.ok()) return status_;
    q.items.push_back(std::move(item));
    cv_.notify_all();
    return absl::OkStatus();
  }

  // The next item; nullopt once `q` is closed and empty, or on a failure.
  template <typename T>
  std::optional<T> Pop(Queue<T>& q) {
    std::unique_lock lock(mu_);
    cv_.wait(lock,
             [&] { return !q.items.empty() || q.closed || !status_.ok(); });
    if (!status_.ok() || q.items.empty()) return std::nullopt;
    T item = std::move(q.items.front());
    q.items.pop_front();
    cv_.notify_all();
    return item;
  }

  template <typename T>
  void Close(Queue<T>& q) {
    std::lock_guard lock(mu_);
    q.closed = true;
    cv_.notify_all();
  }

  void Stop(const absl::Status& s) {
    std::lock_guard lock(mu_);
    if (status_.ok()) status_ = s;
    typing_.items.clear();
    storing_.items.clear();
    cv_.notify_all();
  }

  absl::Status Enqueue(Work work) { return Push(typing_, std::move(work)); }

  // An empty TextRows with the columns of `like`, reusing the buffers of a
  // block already stored (so blocks do not fault in fresh memory).
  table::TextRows RecycledRows(const table::TextRows& like) {
    table::TextRows rows;
    {
      std::lock_guard lock(mu_);
      if (free_rows_.empty()) return like.EmptyCopy();
      rows = std::move(free_rows_.back());
      free_rows_.pop_back();
    }
    // JSON lines may have found new columns since (names only grow).
    for (size_t c = rows.num_columns(); c < like.num_columns(); ++c) {
      rows.AddColumn(like.names()[c]);
    }
    return rows;
  }

  void Recycle(Work& work) {
    auto* rows = std::get_if<table::TextRows>(&work);
    if (rows == nullptr) return;
    rows->ClearRows();
    std::lock_guard lock(mu_);
    // As many as can be in flight: parsed, queued and in each stage.
    if (free_rows_.size() < 2 * options_.store_queue_blocks + 3) {
      free_rows_.push_back(std::move(*rows));
    }
  }

  // Ends the input of the stages and waits for them.
  absl::Status EndStages() {
    Close(typing_);
    JoinStages();
    std::lock_guard lock(mu_);
    return status_;
  }

  void JoinStages() {
    if (typer_thread_.joinable()) typer_thread_.join();
    if (store_thread_.joinable()) store_thread_.join();
  }

  void TypeLoop() {
    while (auto work = Pop(typing_)) {
      auto t0 = Clock::now();
      auto typed = std::visit([this](auto& w) { return Type(w); }, *work);
      type_time_ += Clock::now() - t0;
      if (!typed.ok()) return Stop(typed.status());
      typed->source = std::move(*work);
      if (!Push(storing_, std::move(*typed)).ok()) return;
    }
    Close(storing_);
  }

  void StoreLoop() {
    while (auto typed = Pop(storing_)) {
      auto t0 = Clock::now();
      absl::Status s = Store(*typed);
      store_time_ += Clock::now() - t0;
      Recycle(typed->source);
      if (!s.ok()) return Stop(s);
    }
  }

  uint32_t ColumnIndex(const std::string& name) {
    auto [it, added] = column_index_.try_emplace(name, columns_.size());
    if (added) columns_.push_back(name);
    return it->second;
  }

  absl::Status CheckColumns(const std::vector<std::string>& names) {
    if (!existing_ || checked_columns_) return absl::OkStatus();
    checked_columns_ = true;
    v1::Schema schema;
    for (const auto& n : names) schema.add_fields()->set_name(n);
    return CheckCompatible(*existing_, schema);
  }

  // Types a block's columns; a string column's values stay in `rows`.
  absl::StatusOr<Typed> Type(table::TextRows& rows) {
    if (csv_) {
      if (auto s = CheckColumns(rows.names()); !s.ok()) return s;
      if (typed_blocks_ == 0) HintDelimiter(rows);
    }
    ++typed_blocks_;
    if (auto s = table::CheckUtf8(rows); !s.ok()) {
      return absl::InvalidArgumentError(StrCat(
          header_.source().empty() ? "" : header_.source() + ": ", s.message(),
          latin1_ ? ""
                  : "; a file in Latin-1 (ISO 8859-1) is uploaded with "
                    "encoding latin1 (mlpipe ingest --encoding latin1; in a "
                    "pipeline, encoding: latin1)"));
    }
    Typed typed;
    typed.num_rows = rows.num_rows();
    for (size_t c = 0; c < rows.num_columns(); ++c) {
      auto col = typer_.Type(rows, c, /*copy_strings=*/false);
      if (!col.ok()) return col.status();
      typed.columns.push_back(std::move(*col));
    }
    return typed;
  }

  absl::StatusOr<Typed> Type(table::Table& t) {
    std::vector<std::string> names;
    for (const auto& c : t.columns) names.push_back(c.name);
    if (auto s = CheckColumns(names); !s.ok()) return s;
    for (const auto& c : t.columns) {
      if (auto s = typer_.Accept(c); !s.ok()) return s;
    }
    return Typed{.columns = std::move(t.columns), .num_rows = t.num_rows};
  }

  absl::Status Store(Typed& t) {
    const auto* rows = std::get_if<table::TextRows>(&t.source);
    storage::WriteBatch wb;
    std::vector<uint64_t> hashes(t.num_rows, 0);
    for (size_t c = 0; c < t.columns.size(); ++c) {
      table::Column& col = t.columns[c];
      v1::Column proto;
      if (rows != nullptr && table::IsStringType(col.type)) {
        table::StringColumnToProto(
            col, [&](size_t r) { return rows->cell(r, c); }, &proto);
      } else {
        table::ColumnToStoredProto(std::move(col), &proto);
      }
      AddColumn(proto, &wb, &hashes);
    }
    AddRowHashes(hashes, &wb);
    return WriteBlock(t.num_rows, wb);
  }

  // Stores a block's column; adds its part of each row's hash to `hashes`.
  void AddColumn(const v1::Column& proto, storage::WriteBatch* wb,
                 std::vector<uint64_t>* hashes) {
    uint32_t idx = ColumnIndex(proto.name());
    AddToRowHashes(proto, hashes);
    wb->Put(kBlocks, BlockKey(batch_id_, next_block_, idx),
            proto.SerializeAsString());
  }

  // Blocks skip the write-ahead log (a copy of every byte, and a tenth of
  // an upload's time): Finish flushes them to disk before it commits.
  absl::Status WriteBlock(size_t rows, const storage::WriteBatch& wb) {
    if (auto s = store_->Write(wb, {.skip_wal = true}); !s.ok()) return s;
    block_rows_.push_back(static_cast<int64_t>(rows));
    rows_ += static_cast<int64_t>(rows);
    ++next_block_;
    return absl::OkStatus();
  }

  // Rejects the upload: stops the stages and deletes what they stored.
  absl::Status Fail(absl::Status s) {
    if (!done_) {
      Abort(s);
      Metrics::Get().Reject(ReasonOf(s));
    }
    return s;
  }

  void Abort(const absl::Status&) {
    done_ = true;
    if (replay_batch_.empty()) {
      Stop(absl::CancelledError("aborted"));
      JoinStages();
      storage::WriteBatch wb;
      wb.DeleteRange(kBlocks, batch_id_, storage::PrefixEnd(batch_id_));
      wb.DeleteRange(kRowHashes, batch_id_, storage::PrefixEnd(batch_id_));
      wb.Delete(kPending, batch_id_);
      // If this fails the pending marker remains and the next Open cleans up.
      (void)store_->Write(wb);
    }
  }

  const CommitFn commit_;
  storage::Store* const store_;
  const IngestorOptions& options_;
  const v1::IngestHeader header_;
  const std::optional<v1::Dataset> existing_;
  const std::string replay_batch_;  // Set when the key matched a batch.
  std::function<void()> release_;
  std::string batch_id_;
  // Written by the storing stage, read by Finish once it has ended.
  RepeatCounter repeats_;  // Rows that repeat an earlier row of the upload.
  bool keep_hashes_ = false;
  Sha256 hash_;
  int64_t bytes_ = 0;
  int64_t frames_ = 0;
  bool done_ = false;
  bool latin1_ = false;
  bool bom_checked_ = false;
  std::string head_;  // The first bytes, until a byte-order mark is ruled out.
  std::string utf8_;  // A Latin-1 chunk as UTF-8.
  std::vector<std::string> warnings_;  // Written by the typing stage.
  std::unique_ptr<table::CsvParser> csv_;
  std::unique_ptr<table::JsonLinesParser> jsonl_;
  Clock::time_point start_;
  Clock::duration parse_time_{};

  // The typing stage's state: touched only by its thread while it runs,
  // read after join.
  table::ColumnTyper typer_;
  bool checked_columns_ = false;
  size_t typed_blocks_ = 0;
  Clock::duration type_time_{};
  // The storing stage's, likewise.
  std::vector<std::string> columns_;
  std::map<std::string, uint32_t> column_index_;
  uint32_t next_block_ = 0;
  std::vector<int64_t> block_rows_;
  int64_t rows_ = 0;
  Clock::duration store_time_{};

  std::thread typer_thread_;
  std::thread store_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  Queue<Work> typing_;
  Queue<Typed> storing_;
  std::vector<table::TextRows> free_rows_;  // GUARDED_BY(mu_)
  absl::Status status_;                     // GUARDED_BY(mu_)
};

}  // namespace

absl::StatusOr<std::unique_ptr<Upload>> NewUpload(
    CommitFn commit, storage::Store* store, const IngestorOptions& options,
    v1::IngestHeader header, std::optional<v1::Dataset> existing,
    std::string replay_batch, std::function<void()> release) {
  auto upload = std::make_unique<UploadImpl>(
      std::move(commit), store, options, std::move(header), std::move(existing),
      std::move(replay_batch), std::move(release));
  if (auto s = upload->Start(); !s.ok()) return s;
  return std::unique_ptr<Upload>(std::move(upload));
}

}  // namespace mlpipe::ingest
