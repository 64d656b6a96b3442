#include "services/ingest/ingestor.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>
#include <variant>

#include "common/metrics/metrics.h"
#include "common/storage/key_codec.h"
#include "common/table/csv.h"
#include "common/table/frame_codec.h"
#include "common/table/jsonl.h"
#include "common/table/typing.h"
#include "common/util/ids.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::ingest {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using google::protobuf::util::TimeUtil;

constexpr char kDatasets[] = "datasets";
constexpr char kBatches[] = "batches";
constexpr char kBlocks[] = "blocks";
constexpr char kIdempotency[] = "idempotency";
constexpr char kPending[] = "pending";

double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Process-wide ingest metrics.
struct Metrics {
  prometheus::Counter& rows;
  prometheus::Counter& bytes;
  prometheus::Counter& batches;
  prometheus::Family<prometheus::Counter>& rejections;
  prometheus::Histogram& batch_seconds;

  static Metrics& Get() {
    static Metrics* m = [] {
      auto& r = metrics::Registry();
      return new Metrics{
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_rows_total")
              .Help("Rows stored in committed batches.")
              .Register(r)
              .Add({}),
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_bytes_total")
              .Help("Bytes received in committed batches.")
              .Register(r)
              .Add({}),
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_batches_total")
              .Help("Batches committed.")
              .Register(r)
              .Add({}),
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_rejections_total")
              .Help("Uploads rejected, by reason.")
              .Register(r),
          prometheus::BuildHistogram()
              .Name("mlpipe_ingest_batch_duration_seconds")
              .Help("Time from the start of an upload to its durable commit.")
              .Register(r)
              .Add({}, metrics::LatencyBuckets()),
      };
    }();
    return *m;
  }
  void Reject(std::string_view reason) {
    rejections.Add({{"reason", std::string(reason)}}).Increment();
  }
};

// The rejection reason for a failed upload's status.
std::string_view ReasonOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return "invalid_input";
    case absl::StatusCode::kFailedPrecondition:
      return "schema_conflict";
    case absl::StatusCode::kAborted:
      return "concurrent_upload";
    case absl::StatusCode::kCancelled:
      return "cancelled";
    default:
      return "storage_error";
  }
}

std::string BlockKey(std::string_view batch_id, uint32_t block, uint32_t col) {
  std::string k(batch_id);
  storage::AppendU32(&k, block);
  storage::AppendU32(&k, col);
  return k;
}

std::string IdempotencyKey(std::string_view dataset, std::string_view key) {
  return StrCat(dataset, std::string_view("\0", 1), key);
}

template <typename Msg>
absl::StatusOr<Msg> GetProto(const storage::Store* store, std::string_view cf,
                             std::string_view key) {
  auto raw = store->Get(cf, key);
  if (!raw.ok()) return raw.status();
  Msg msg;
  if (!msg.ParseFromString(*raw)) {
    return absl::DataLossError(StrCat(cf, " record '", key, "' is corrupt"));
  }
  return msg;
}

// Why a batch's schema cannot be added to a dataset; OK when it can.
absl::Status CheckCompatible(const v1::Dataset& dataset,
                             const v1::Schema& batch) {
  std::map<std::string, const v1::Field*> have, got;
  for (const auto& f : dataset.schema().fields()) have[f.name()] = &f;
  for (const auto& f : batch.fields()) got[f.name()] = &f;
  std::vector<std::string> missing, extra, types;
  for (const auto& [name, f] : have) {
    auto it = got.find(name);
    if (it == got.end()) {
      missing.push_back(name);
    } else if (f->type() != v1::COLUMN_TYPE_UNSPECIFIED &&
               it->second->type() != v1::COLUMN_TYPE_UNSPECIFIED &&
               f->type() != it->second->type()) {
      types.push_back(StrCat(
          "'", name, "' is ",
          table::ColumnTypeName(static_cast<table::ColumnType>(f->type())),
          " in the dataset but ",
          table::ColumnTypeName(
              static_cast<table::ColumnType>(it->second->type())),
          " in this batch"));
    }
  }
  for (const auto& [name, f] : got) {
    if (!have.contains(name)) extra.push_back(name);
  }
  if (missing.empty() && extra.empty() && types.empty()) {
    return absl::OkStatus();
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) StrAppend(&s, s.empty() ? "" : ", ", x);
    return s;
  };
  std::string msg =
      StrCat("schema conflict with dataset '", dataset.name(), "':");
  if (!missing.empty())
    StrAppend(&msg, " missing columns [", join(missing), "];");
  if (!extra.empty())
    StrAppend(&msg, " unexpected columns [", join(extra), "];");
  if (!types.empty()) StrAppend(&msg, " type changes: ", join(types), ";");
  msg.pop_back();
  return absl::FailedPreconditionError(msg);
}

absl::Status ValidateHeader(const v1::IngestHeader& h) {
  if (!IsValidName(h.dataset())) {
    return absl::InvalidArgumentError(StrCat(
        "header.dataset: '", h.dataset(),
        "' is not a valid name (1-128 of A-Z a-z 0-9 _ . -, not starting "
        "with . or -)"));
  }
  if (h.delimiter().size() > 1 || h.delimiter() == "\"" ||
      h.delimiter() == "\n" || h.delimiter() == "\r") {
    return absl::InvalidArgumentError(
        StrCat("header.delimiter: '", h.delimiter(),
               "' must be one character other than a quote or line end"));
  }
  if (h.idempotency_key().size() > 256) {
    return absl::InvalidArgumentError(
        "header.idempotency_key: longer than 256 characters");
  }
  return absl::OkStatus();
}

// An upload: parses on the caller's thread; types, encodes and stores blocks
// on its own worker thread, so parsing and storing overlap.
class UploadImpl final : public Upload {
 public:
  using CommitFn = std::function<absl::StatusOr<v1::IngestResponse>(
      v1::Batch, const std::string&)>;

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
    if (existing_) {
      for (const auto& f : existing_->schema().fields()) {
        typer_.Fix(f.name(), static_cast<table::ColumnType>(f.type()),
                   f.timestamp_format());
      }
    }
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
      return s;
    }
    worker_ = std::thread([this] { WorkLoop(); });
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
    absl::Status s = csv_ ? csv_->Feed(bytes) : jsonl_->Feed(bytes);
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
    absl::Status s;
    if (csv_) {
      s = csv_->Finish();
    } else if (jsonl_) {
      s = jsonl_->Finish();
    } else if (frames_ == 0) {
      s = absl::InvalidArgumentError("no frames received");
    }
    if (s.ok()) s = CloseWorker();
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
    t->set_parse_seconds(Seconds(parse_time_));
    t->set_store_seconds(Seconds(store_time_));
    auto commit_start = Clock::now();
    auto result = commit_(std::move(batch), header_.idempotency_key());
    if (!result.ok()) return Fail(result.status());
    done_ = true;
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
    v1::IngestResponse r;
    *r.mutable_batch() = std::move(*batch);
    r.set_deduplicated(true);
    return r;
  }

  absl::Status Enqueue(Work work) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] {
      return queue_.size() < options_.store_queue_blocks ||
             !worker_status_.ok();
    });
    if (!worker_status_.ok()) return worker_status_;
    queue_.push_back(std::move(work));
    cv_.notify_all();
    return absl::OkStatus();
  }

  // An empty TextRows with the columns of `like`, reusing the buffers of a
  // block the worker has stored (so blocks do not fault in fresh memory).
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

  absl::Status CloseWorker() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      cv_.notify_all();
    }
    if (worker_.joinable()) worker_.join();
    std::lock_guard lock(mu_);
    return worker_status_;
  }

  void WorkLoop() {
    while (true) {
      Work work;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || closed_; });
        if (queue_.empty()) return;
        work = std::move(queue_.front());
        queue_.pop_front();
        cv_.notify_all();
      }
      auto t0 = Clock::now();
      absl::Status s = std::visit([this](auto& w) { return Store(w); }, work);
      store_time_ += Clock::now() - t0;
      if (auto* rows = std::get_if<table::TextRows>(&work)) {
        rows->ClearRows();
        std::lock_guard lock(mu_);
        if (free_rows_.size() < options_.store_queue_blocks + 1) {
          free_rows_.push_back(std::move(*rows));
        }
      }
      if (!s.ok()) {
        std::lock_guard lock(mu_);
        worker_status_ = s;
        queue_.clear();
        cv_.notify_all();
        return;
      }
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

  absl::Status Store(table::TextRows& rows) {
    if (csv_) {
      if (auto s = CheckColumns(rows.names()); !s.ok()) return s;
    }
    storage::WriteBatch wb;
    for (size_t c = 0; c < rows.num_columns(); ++c) {
      auto col = typer_.Type(rows, c);
      if (!col.ok()) return col.status();
      AddColumn(std::move(*col), &wb);
    }
    return WriteBlock(rows.num_rows(), wb);
  }

  absl::Status Store(table::Table& t) {
    std::vector<std::string> names;
    for (const auto& c : t.columns) names.push_back(c.name);
    if (auto s = CheckColumns(names); !s.ok()) return s;
    storage::WriteBatch wb;
    for (auto& c : t.columns) {
      ColumnIndex(c.name);
      if (auto s = typer_.Accept(c); !s.ok()) return s;
      AddColumn(std::move(c), &wb);
    }
    return WriteBlock(t.num_rows, wb);
  }

  void AddColumn(table::Column&& col, storage::WriteBatch* wb) {
    uint32_t idx = ColumnIndex(col.name);
    v1::Column proto;
    table::ColumnToProto(std::move(col), &proto);
    wb->Put(kBlocks, BlockKey(batch_id_, next_block_, idx),
            proto.SerializeAsString());
  }

  absl::Status WriteBlock(size_t rows, const storage::WriteBatch& wb) {
    if (auto s = store_->Write(wb); !s.ok()) return s;
    block_rows_.push_back(static_cast<int64_t>(rows));
    rows_ += static_cast<int64_t>(rows);
    ++next_block_;
    return absl::OkStatus();
  }

  // Rejects the upload: stops the worker and deletes what it stored.
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
      {
        std::lock_guard lock(mu_);
        closed_ = true;
        if (worker_status_.ok())
          worker_status_ = absl::CancelledError("aborted");
        queue_.clear();
        cv_.notify_all();
      }
      if (worker_.joinable()) worker_.join();
      storage::WriteBatch wb;
      wb.DeleteRange(kBlocks, batch_id_, storage::PrefixEnd(batch_id_));
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
  Sha256 hash_;
  int64_t bytes_ = 0;
  int64_t frames_ = 0;
  bool done_ = false;
  std::unique_ptr<table::CsvParser> csv_;
  std::unique_ptr<table::JsonLinesParser> jsonl_;
  Clock::time_point start_;
  Clock::duration parse_time_{};

  // Worker state: touched only by the worker while it runs, read after join.
  table::ColumnTyper typer_;
  std::vector<std::string> columns_;
  std::map<std::string, uint32_t> column_index_;
  bool checked_columns_ = false;
  uint32_t next_block_ = 0;
  std::vector<int64_t> block_rows_;
  int64_t rows_ = 0;
  Clock::duration store_time_{};

  std::thread worker_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Work> queue_;                  // GUARDED_BY(mu_)
  std::vector<table::TextRows> free_rows_;  // GUARDED_BY(mu_)
  bool closed_ = false;                     // GUARDED_BY(mu_)
  absl::Status worker_status_;              // GUARDED_BY(mu_)
};

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

storage::Options Ingestor::StorageOptions() {
  storage::Options o;
  o.column_families = {{.name = kDatasets},
                       {.name = kBatches},
                       {.name = kBlocks, .large_values = true},
                       {.name = kIdempotency},
                       {.name = kPending},
                       {.name = events::kEventsColumnFamily}};
  return o;
}

absl::StatusOr<std::unique_ptr<Ingestor>> Ingestor::Open(
    IngestorOptions options, storage::Store* store, events::EventLog* events) {
  if (options.block_rows == 0 || options.max_rows_per_frame == 0) {
    return absl::InvalidArgumentError(
        "block_rows and max_rows_per_frame must be > 0");
  }
  if (options.store_queue_blocks == 0) options.store_queue_blocks = 1;
  std::unique_ptr<Ingestor> ingestor(
      new Ingestor(std::move(options), store, events));
  if (auto s = ingestor->RecoverPendingUploads(); !s.ok()) return s;
  Metrics::Get();  // Register the families so /metrics lists them at once.
  return ingestor;
}

Ingestor::~Ingestor() = default;

absl::Status Ingestor::RecoverPendingUploads() {
  storage::WriteBatch wb;
  for (auto it = store_->Scan(kPending, ""); it->Valid(); it->Next()) {
    std::string id(it->key());
    wb.DeleteRange(kBlocks, id, storage::PrefixEnd(id));
    wb.Delete(kPending, id);
  }
  if (wb.empty()) return absl::OkStatus();
  return store_->Write(wb, {.sync = true});
}

absl::StatusOr<std::unique_ptr<Upload>> Ingestor::BeginUpload(
    const v1::IngestHeader& header) {
  if (auto s = ValidateHeader(header); !s.ok()) {
    Metrics::Get().Reject("invalid_header");
    return s;
  }
  std::optional<v1::Dataset> existing;
  auto ds = GetProto<v1::Dataset>(store_, kDatasets, header.dataset());
  if (ds.ok()) {
    existing = std::move(*ds);
  } else if (ds.status().code() != absl::StatusCode::kNotFound) {
    return ds.status();
  }
  std::string token, replay;
  if (!header.idempotency_key().empty()) {
    token = IdempotencyKey(header.dataset(), header.idempotency_key());
    {
      std::lock_guard lock(keys_mu_);
      if (!keys_in_flight_.insert(token).second) {
        Metrics::Get().Reject("concurrent_upload");
        return absl::AbortedError(
            StrCat("header.idempotency_key: an upload with key '",
                   header.idempotency_key(), "' for dataset '",
                   header.dataset(), "' is in progress; retry when it ends"));
      }
    }
    auto prior = store_->Get(kIdempotency, token);
    if (prior.ok()) {
      replay = *prior;
    } else if (prior.status().code() != absl::StatusCode::kNotFound) {
      ReleaseKey(token);
      return prior.status();
    }
  }
  auto upload = std::make_unique<UploadImpl>(
      [this](v1::Batch batch, const std::string& key) {
        return Commit(std::move(batch), key);
      },
      store_, options_, header, std::move(existing), std::move(replay),
      [this, token] {
        if (!token.empty()) ReleaseKey(token);
      });
  if (auto s = upload->Start(); !s.ok()) return s;
  return std::unique_ptr<Upload>(std::move(upload));
}

void Ingestor::ReleaseKey(const std::string& key) {
  std::lock_guard lock(keys_mu_);
  keys_in_flight_.erase(key);
}

absl::StatusOr<v1::IngestResponse> Ingestor::Commit(
    v1::Batch batch, const std::string& idem_key) {
  std::lock_guard lock(commit_mu_);
  auto now = TimeUtil::GetCurrentTime();
  v1::Dataset dataset;
  auto ds = GetProto<v1::Dataset>(store_, kDatasets, batch.dataset());
  if (ds.ok()) {
    dataset = std::move(*ds);
    if (auto s = CheckCompatible(dataset, batch.schema()); !s.ok()) return s;
    // Columns that were all missing so far take the batch's type.
    std::map<std::string, const v1::Field*> got;
    for (const auto& f : batch.schema().fields()) got[f.name()] = &f;
    for (auto& f : *dataset.mutable_schema()->mutable_fields()) {
      if (f.type() == v1::COLUMN_TYPE_UNSPECIFIED) {
        f.set_type(got[f.name()]->type());
        f.set_timestamp_format(got[f.name()]->timestamp_format());
      }
    }
  } else if (ds.status().code() == absl::StatusCode::kNotFound) {
    dataset.set_name(batch.dataset());
    *dataset.mutable_schema() = batch.schema();
    *dataset.mutable_created_at() = now;
  } else {
    return ds.status();
  }
  int64_t version =
      dataset.versions_size() == 0
          ? 1
          : dataset.versions(dataset.versions_size() - 1).version() + 1;
  batch.set_version(version);
  *batch.mutable_created_at() = now;
  dataset.set_row_count(dataset.row_count() + batch.row_count());
  *dataset.mutable_updated_at() = now;
  auto* v = dataset.add_versions();
  v->set_version(version);
  v->set_batch_id(batch.id());
  v->set_row_count(dataset.row_count());
  *v->mutable_created_at() = now;

  storage::WriteBatch wb;
  wb.Put(kBatches, batch.id(), batch.SerializeAsString());
  wb.Put(kDatasets, dataset.name(), dataset.SerializeAsString());
  if (!idem_key.empty()) {
    wb.Put(kIdempotency, IdempotencyKey(batch.dataset(), idem_key), batch.id());
  }
  wb.Delete(kPending, batch.id());
  auto event = events::EventLog::Make(
      "dataset.ingested", {{"dataset", dataset.name()},
                           {"batch_id", batch.id()},
                           {"version", std::to_string(version)},
                           {"rows", std::to_string(batch.row_count())}});
  if (auto s =
          events_->Commit(std::move(wb), {std::move(event)}, {.sync = true});
      !s.ok()) {
    return s;
  }
  v1::IngestResponse r;
  *r.mutable_batch() = std::move(batch);
  return r;
}

absl::StatusOr<v1::IngestResponse> Ingestor::IngestFile(
    const v1::IngestFileRequest& request) {
  if (options_.import_root.empty()) {
    return absl::FailedPreconditionError(
        "IngestFile is disabled: the server was started without an import "
        "root (--import_root)");
  }
  const std::string& p = request.path();
  if (p.empty()) return absl::InvalidArgumentError("path: required");
  fs::path rel(p);
  for (const auto& part : rel) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          StrCat("path: '", p, "' contains '..'"));
    }
  }
  std::error_code ec;
  fs::path root = fs::canonical(options_.import_root, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        StrCat("import root '", options_.import_root, "': ", ec.message()));
  }
  fs::path candidate = rel.is_absolute() ? rel : root / rel;
  if (!fs::exists(candidate, ec)) {
    return absl::NotFoundError(StrCat("path: '", p, "' does not exist"));
  }
  fs::path real = fs::canonical(candidate, ec);
  if (ec) return absl::NotFoundError(StrCat("path: '", p, "': ", ec.message()));
  auto [root_end, nothing] =
      std::mismatch(root.begin(), root.end(), real.begin(), real.end());
  if (root_end != root.end()) {
    return absl::InvalidArgumentError(
        StrCat("path: '", p, "' is outside the import root"));
  }
  if (!fs::is_regular_file(real, ec)) {
    return absl::InvalidArgumentError(StrCat("path: '", p, "' is not a file"));
  }
  std::ifstream in(real, std::ios::binary);
  if (!in) return absl::NotFoundError(StrCat("path: cannot open '", p, "'"));
  v1::IngestHeader header = request.header();
  if (header.source().empty()) header.set_source(p);
  auto upload = BeginUpload(header);
  if (!upload.ok()) return upload.status();
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    if (auto s = (*upload)->AddChunk(std::string_view(buf.data(), n));
        !s.ok()) {
      return s;
    }
  }
  if (in.bad())
    return absl::UnavailableError(StrCat("reading '", p, "' failed"));
  return (*upload)->Finish();
}

absl::StatusOr<v1::Dataset> Ingestor::GetDataset(
    const std::string& name) const {
  auto ds = GetProto<v1::Dataset>(store_, kDatasets, name);
  if (ds.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(StrCat("dataset '", name, "' not found"));
  }
  return ds;
}

absl::StatusOr<std::vector<v1::Dataset>> Ingestor::ListDatasets() const {
  std::vector<v1::Dataset> out;
  auto it = store_->Scan(kDatasets, "");
  for (; it->Valid(); it->Next()) {
    v1::Dataset d;
    if (!d.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          StrCat("dataset '", it->key(), "' is corrupt"));
    }
    out.push_back(std::move(d));
  }
  if (auto s = it->status(); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::Batch>> Ingestor::ListBatches(
    const v1::Dataset& dataset) const {
  std::vector<v1::Batch> out;
  for (const auto& v : dataset.versions()) {
    auto b = GetBatch(v.batch_id());
    if (!b.ok()) return b.status();
    out.push_back(std::move(*b));
  }
  return out;
}

absl::StatusOr<v1::Batch> Ingestor::GetBatch(const std::string& id) const {
  auto b = GetProto<v1::Batch>(store_, kBatches, id);
  if (b.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(StrCat("batch '", id, "' not found"));
  }
  return b;
}

absl::StatusOr<int64_t> Ingestor::DeleteDataset(const std::string& name) {
  std::lock_guard lock(commit_mu_);
  auto ds = GetDataset(name);
  if (!ds.ok()) return ds.status();
  storage::WriteBatch wb;
  for (const auto& v : ds->versions()) {
    wb.Delete(kBatches, v.batch_id());
    wb.DeleteRange(kBlocks, v.batch_id(), storage::PrefixEnd(v.batch_id()));
  }
  std::string prefix = IdempotencyKey(name, "");
  for (auto it = store_->Scan(kIdempotency, prefix); it->Valid(); it->Next()) {
    wb.Delete(kIdempotency, it->key());
  }
  wb.Delete(kDatasets, name);
  auto event = events::EventLog::Make(
      "dataset.deleted",
      {{"dataset", name}, {"batches", std::to_string(ds->versions_size())}});
  if (auto s =
          events_->Commit(std::move(wb), {std::move(event)}, {.sync = true});
      !s.ok()) {
    return s;
  }
  return ds->versions_size();
}

size_t Ingestor::TEST_UploadsInProgress() const {
  size_t n = 0;
  for (auto it = store_->Scan(kPending, ""); it->Valid(); it->Next()) ++n;
  return n;
}

absl::StatusOr<std::unique_ptr<FrameReader>> Ingestor::Read(
    const v1::ReadBatchesRequest& request) const {
  auto ds = GetDataset(request.dataset());
  if (!ds.ok()) return ds.status();
  std::vector<v1::Batch> batches;
  if (request.batch_ids_size() > 0) {
    for (const auto& id : request.batch_ids()) {
      auto b = GetBatch(id);
      if (!b.ok() || b->dataset() != ds->name()) {
        return absl::NotFoundError(StrCat("batch_ids: batch '", id,
                                          "' not found in dataset '",
                                          ds->name(), "'"));
      }
      batches.push_back(std::move(*b));
    }
  } else {
    auto all = ListBatches(*ds);
    if (!all.ok()) return all.status();
    for (auto& b : *all) {
      if (request.up_to_version() == 0 ||
          b.version() <= request.up_to_version()) {
        batches.push_back(std::move(b));
      }
    }
  }
  std::vector<v1::Field> fields;
  if (request.columns_size() == 0) {
    fields.assign(ds->schema().fields().begin(), ds->schema().fields().end());
  } else {
    for (const auto& name : request.columns()) {
      const v1::Field* found = nullptr;
      for (const auto& f : ds->schema().fields()) {
        if (f.name() == name) found = &f;
      }
      if (found == nullptr) {
        return absl::InvalidArgumentError(StrCat(
            "columns: dataset '", ds->name(), "' has no column '", name, "'"));
      }
      fields.push_back(*found);
    }
  }
  size_t max_rows = options_.max_rows_per_frame;
  if (request.max_rows_per_frame() > 0) {
    max_rows = std::min<size_t>(max_rows, request.max_rows_per_frame());
  }
  return std::unique_ptr<FrameReader>(
      new FrameReaderImpl(store_, std::move(batches), std::move(fields),
                          max_rows, options_.target_frame_bytes));
}

}  // namespace mlpipe::ingest
