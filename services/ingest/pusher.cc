#include "services/ingest/pusher.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/metrics/metrics.h"
#include "common/table/frame_codec.h"
#include "common/table/jsonl.h"
#include "common/table/typing.h"
#include "common/util/background_loop.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/ingest/ingestor_internal.h"

namespace mlpipe::ingest {
namespace {

struct PushMetrics {
  prometheus::Counter& rows;
  prometheus::Counter& messages;
  prometheus::Counter& duplicates;
  prometheus::Family<prometheus::Counter>& rejections;
  prometheus::Histogram& commit_seconds;
  prometheus::Gauge& streams;
  prometheus::Gauge& pending_rows;
  prometheus::Counter& compactions;
  prometheus::Family<prometheus::Counter>& dropped_rows;

  static PushMetrics& Get() {
    static PushMetrics* m = [] {
      auto& r = metrics::Registry();
      auto* m = new PushMetrics{
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_push_rows_total")
              .Help("Pushed rows made durable.")
              .Register(r)
              .Add({}),
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_push_messages_total")
              .Help("Pushed messages made durable.")
              .Register(r)
              .Add({}),
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_push_duplicates_total")
              .Help("Pushed messages stored before (a producer's resend), "
                    "acknowledged and not stored again.")
              .Register(r)
              .Add({}),
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_push_rejections_total")
              .Help("Push streams and messages refused, by reason.")
              .Register(r),
          prometheus::BuildHistogram()
              .Name("mlpipe_ingest_push_commit_seconds")
              .Help("Time from a pushed message's arrival to its durable "
                    "group commit.")
              .Register(r)
              .Add({}, metrics::LatencyBuckets()),
          prometheus::BuildGauge()
              .Name("mlpipe_ingest_push_streams")
              .Help("Push streams open.")
              .Register(r)
              .Add({}),
          prometheus::BuildGauge()
              .Name("mlpipe_ingest_push_pending_rows")
              .Help("Pushed rows durable and not yet in a dataset version.")
              .Register(r)
              .Add({}),
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_push_compactions_total")
              .Help("Compactions of pushed rows into dataset versions.")
              .Register(r)
              .Add({}),
          prometheus::BuildCounter()
              .Name("mlpipe_ingest_push_dropped_rows_total")
              .Help("Durable pushed rows a compaction could not add to their "
                    "dataset (deleted, or made again with other columns), "
                    "by reason.")
              .Register(r),
      };
      // At 0 from the start, so a first drop is an increase (the alert).
      for (const char* reason : {"dataset_deleted", "schema_changed"})
        m->dropped_rows.Add({{"reason", reason}});
      return m;
    }();
    return *m;
  }
  void Reject(std::string_view reason) {
    rejections.Add({{"reason", std::string(reason)}}).Increment();
  }
};

// A log record: u16 dataset length, dataset, u16 producer length, producer,
// i64 sequence, i64 rows, i64 arrival (Unix micros), then the serialized
// Frame (the dataset's columns, in its order).
std::string RecordHeader(const std::string& dataset,
                         const std::string& producer, int64_t sequence,
                         int64_t rows) {
  std::string r;
  r.reserve(4 + dataset.size() + producer.size() + 16);
  auto put16 = [&](size_t n) {
    const uint16_t v = static_cast<uint16_t>(n);
    r.append(reinterpret_cast<const char*>(&v), 2);
  };
  auto put64 = [&](int64_t v) {
    r.append(reinterpret_cast<const char*>(&v), 8);
  };
  put16(dataset.size());
  r += dataset;
  put16(producer.size());
  r += producer;
  put64(sequence);
  put64(rows);
  put64(absl::ToUnixMicros(absl::Now()));  // When it came.
  return r;
}

struct Record {
  std::string_view dataset, producer, frame;
  int64_t sequence = 0, rows = 0, received_micros = 0;
};

bool DecodeRecord(std::string_view r, Record* out) {
  auto take = [&](size_t n, std::string_view* v) {
    if (r.size() < n) return false;
    *v = r.substr(0, n);
    r.remove_prefix(n);
    return true;
  };
  auto take16 = [&](std::string_view* v) {
    std::string_view n;
    if (!take(2, &n)) return false;
    uint16_t len;
    std::memcpy(&len, n.data(), 2);
    return take(len, v);
  };
  auto take64 = [&](int64_t* v) {
    std::string_view n;
    if (!take(8, &n)) return false;
    std::memcpy(v, n.data(), 8);
    return true;
  };
  if (!take16(&out->dataset) || !take16(&out->producer) ||
      !take64(&out->sequence) || !take64(&out->rows) ||
      !take64(&out->received_micros))
    return false;
  out->frame = r;
  return true;
}

std::string ProducerKey(std::string_view dataset, std::string_view producer) {
  return StrCat(dataset, std::string_view("\0", 1), producer);
}
std::string MarkKey(std::string_view producer_key) {
  return StrCat("m/", producer_key);
}

bool ValidProducer(const std::string& p) {
  if (p.empty() || p.size() > 128) return false;
  return std::all_of(p.begin(), p.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' ||
           c == '.' || c == ':' || c == '@' || c == '-';
  });
}

// Reads the log records in [from, to), in order, until `fn` returns false.
void ForEachRecord(storage::SegmentLog* log, uint64_t from, uint64_t to,
                   const std::function<bool(uint64_t, const Record&)>& fn) {
  uint64_t next = from;
  bool more = true;
  while (more && next < to) {
    const uint64_t at = next;
    next = log->Read(next, to - next, [&](uint64_t seq, std::string_view raw) {
      Record r;
      if (more && seq < to && DecodeRecord(raw, &r)) more = fn(seq, r);
    });
    if (next <= at) break;  // Nothing more: the records end before `to`.
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// A stream's state: what its rows must look like, and its callbacks.

struct PushSession::State {
  std::string dataset, producer, key;
  v1::DataFormat format = v1::FRAMES;
  std::vector<v1::Field> fields;
  std::map<std::string, size_t, std::less<>> index;  // Field by name.
  table::ColumnTyper typer;                          // JSON lines.
  std::atomic<size_t> unacked_bytes{0};
  int64_t rows = 0, duplicates = 0;  // Under the pusher's mu_.

  std::mutex mu;  // Held while a callback runs.
  PushListener listener;
  bool closed = false;

  void Ack(const PushAck& ack) {
    std::lock_guard lock(mu);
    if (!closed && listener.ack) listener.ack(ack);
  }
  void End(const absl::Status& why) {
    std::lock_guard lock(mu);
    if (!closed && listener.end) listener.end(why);
  }

  // `table`'s columns as the dataset's, in its order (missing ones
  // null), serialized as a Frame after the record header.
  absl::StatusOr<std::string> Shape(table::Table&& table, int64_t sequence);
};

absl::StatusOr<std::string> PushSession::State::Shape(table::Table&& t,
                                                      int64_t sequence) {
  std::vector<int> from(fields.size(), -1);
  for (size_t c = 0; c < t.columns.size(); ++c) {
    table::Column& col = t.columns[c];
    auto it = index.find(col.name);
    if (it == index.end()) {
      std::string known;
      for (const auto& f : fields)
        StrAppend(&known, known.empty() ? "" : ", ", f.name());
      return absl::InvalidArgumentError(
          StrCat("column '", col.name, "' is not a column of dataset '",
                 dataset, "' (its columns: ", known, ")"));
    }
    if (from[it->second] >= 0) {
      return absl::InvalidArgumentError(
          StrCat("column '", col.name, "' is sent twice"));
    }
    from[it->second] = static_cast<int>(c);
    const v1::Field& f = fields[it->second];
    const auto want = static_cast<table::ColumnType>(f.type());
    const bool any = col.valid.CountSet() > 0;
    if (col.type == want || !any) {
      col.type = want;
    } else if (table::IsStringType(col.type) && table::IsStringType(want)) {
      col.type = want;  // Categorical and text travel alike.
    } else if (want == table::ColumnType::kUnknown) {
      return absl::InvalidArgumentError(
          StrCat("column '", col.name, "' has no type in dataset '", dataset,
                 "' yet (every value so far is missing): upload a batch that "
                 "gives it one before pushing values to it"));
    } else {
      return absl::InvalidArgumentError(
          StrCat("column '", col.name, "' is ", table::ColumnTypeName(col.type),
                 " here but ", table::ColumnTypeName(want),
                 " in the dataset's schema"));
    }
    if (col.type == table::ColumnType::kNumeric) {
      for (size_t r = 0; r < t.num_rows; ++r) {
        if (col.IsValid(r) && !std::isfinite(col.numbers[r])) {
          return absl::InvalidArgumentError(
              StrCat("row ", r, ", column '", col.name, "': ", col.numbers[r],
                     " is not a finite number"));
        }
      }
    }
    if (col.type == table::ColumnType::kTimestamp &&
        col.timestamp_format.empty())
      col.timestamp_format = f.timestamp_format();
  }
  table::Table out;
  out.num_rows = t.num_rows;
  out.columns.reserve(fields.size());
  for (size_t i = 0; i < fields.size(); ++i) {
    if (from[i] >= 0) {
      out.columns.push_back(std::move(t.columns[from[i]]));
      continue;
    }
    table::Column missing;
    missing.name = fields[i].name();
    missing.type = static_cast<table::ColumnType>(fields[i].type());
    missing.timestamp_format = fields[i].timestamp_format();
    for (size_t r = 0; r < t.num_rows; ++r) missing.AppendMissing();
    out.columns.push_back(std::move(missing));
  }
  v1::Frame frame;
  table::TableToFrame(out, &frame);
  frame.set_num_rows(static_cast<int64_t>(t.num_rows));
  std::string record = RecordHeader(dataset, producer, sequence,
                                    static_cast<int64_t>(t.num_rows));
  frame.AppendToString(&record);
  return record;
}

PushSession::~PushSession() { Close(); }

void PushSession::Close() {
  {
    std::lock_guard lock(state_->mu);
    if (state_->closed) return;
    state_->closed = true;
  }
  pusher_->CloseSession(state_);
}

size_t PushSession::Unacked() const {
  return state_->unacked_bytes.load(std::memory_order_relaxed);
}

bool PushSession::ShouldWait() const {
  const size_t mine = state_->unacked_bytes.load(std::memory_order_relaxed);
  if (mine == 0) return false;  // No ack would come to wake it.
  if (mine >= pusher_->options_.window_bytes) return true;
  std::lock_guard lock(pusher_->mu_);
  return pusher_->queued_bytes_ >= pusher_->options_.max_queued_bytes;
}

absl::Status PushSession::Add(int64_t sequence, v1::Frame frame,
                              bool* duplicate,
                              std::optional<PushAck>* ack_now) {
  if (state_->format == v1::JSONL) {
    return absl::InvalidArgumentError(
        StrCat("sequence ", sequence,
               ": this stream's format is JSONL; send jsonl, not a frame"));
  }
  return Queue(sequence, table::TableFromFrame(std::move(frame)), duplicate,
               ack_now);
}

absl::Status PushSession::AddJsonLines(int64_t sequence, std::string_view lines,
                                       bool* duplicate,
                                       std::optional<PushAck>* ack_now) {
  if (state_->format != v1::JSONL) {
    return absl::InvalidArgumentError(
        StrCat("sequence ", sequence,
               ": this stream's format is FRAMES; send a frame, not jsonl"));
  }
  table::Table t;
  absl::Status s;
  // One block: every row of the message at once.
  table::JsonLinesParser parser(
      {.block = {.rows = SIZE_MAX, .bytes = SIZE_MAX}},
      [&](table::TextRows& rows) -> absl::Status {
        for (size_t c = 0; c < rows.num_columns(); ++c) {
          const std::string& name = rows.names()[c];
          auto col = state_->typer.Type(rows, c);
          if (!col.ok()) return col.status();
          col->name = name;
          t.columns.push_back(std::move(*col));
        }
        t.num_rows = rows.num_rows();
        return absl::OkStatus();
      });
  s = parser.Feed(lines);
  if (s.ok()) s = parser.Finish();
  return Queue(sequence,
               s.ok() ? absl::StatusOr<table::Table>(std::move(t)) : s,
               duplicate, ack_now);
}

absl::Status PushSession::Queue(int64_t sequence,
                                absl::StatusOr<table::Table> rows,
                                bool* duplicate,
                                std::optional<PushAck>* ack_now) {
  *duplicate = false;
  if (sequence <= 0) {
    PushMetrics::Get().Reject("bad_sequence");
    return absl::InvalidArgumentError(
        StrCat("sequence: must be > 0 (got ", sequence, ")"));
  }
  absl::StatusOr<std::string> record =
      rows.ok() ? state_->Shape(std::move(*rows), sequence) : rows.status();
  if (!record.ok()) {
    PushMetrics::Get().Reject("bad_rows");
    return absl::InvalidArgumentError(
        StrCat("sequence ", sequence, ": ", record.status().message()));
  }
  return pusher_->Enqueue(state_, sequence, std::move(*record), duplicate,
                          ack_now);
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Pusher>> Pusher::Open(PushOptions options,
                                                     const std::string& dir,
                                                     Ingestor* ingestor,
                                                     storage::Store* store) {
  auto log = storage::SegmentLog::Open(
      dir, {.segment_bytes = options.segment_bytes,
            .max_bytes = options.log_max_bytes,
            .min_free_bytes = options.min_free_bytes});
  if (!log.ok()) return log.status();
  std::unique_ptr<Pusher> p(
      new Pusher(std::move(options), ingestor, store, std::move(*log)));
  if (auto s = p->Recover(); !s.ok()) return s;
  p->committer_ = std::thread([q = p.get()] { q->CommitLoop(); });
  p->compactor_ = std::thread([q = p.get()] { q->CompactLoop(); });
  return p;
}

Pusher::~Pusher() { Stop(); }

absl::Status Pusher::Recover() {
  if (auto s = log_->Sync(); !s.ok()) return s;
  auto compacted = store_->Get(kPush, "compacted");
  if (compacted.ok()) {
    compacted_ = std::max<uint64_t>(1, std::stoull(*compacted));
  } else if (!absl::IsNotFound(compacted.status())) {
    return compacted.status();
  }
  auto reserved = store_->Get(kPush, "reserved");
  if (reserved.ok()) {
    reserved_ = std::stoull(*reserved);
    log_->SkipTo(reserved_);
  } else if (!absl::IsNotFound(reserved.status())) {
    return reserved.status();
  }
  for (auto it = store_->Scan(kPush, "m/"); it->Valid(); it->Next()) {
    Producer& p = producers_[std::string(it->key().substr(2))];
    p.durable = p.queued = std::stoll(std::string(it->value()));
  }
  synced_next_ = appended_next_ = log_->next();
  ForEachRecord(log_.get(), compacted_, synced_next_,
                [&](uint64_t, const Record& r) {
                  Producer& p = producers_[ProducerKey(r.dataset, r.producer)];
                  p.durable = p.queued = std::max(p.durable, r.sequence);
                  pending_rows_[std::string(r.dataset)] += r.rows;
                  uncompacted_rows_ += r.rows;
                  return true;
                });
  PushMetrics::Get().pending_rows.Set(static_cast<double>(uncompacted_rows_));
  auto plan = store_->Get(kPush, "plan");
  if (absl::IsNotFound(plan.status())) return absl::OkStatus();
  if (!plan.ok()) return plan.status();
  std::vector<std::string> parts = absl::StrSplit(*plan, ' ');
  if (parts.size() != 2) {
    return absl::DataLossError(
        StrCat("push compaction plan '", *plan, "' is corrupt"));
  }
  LogInfo("finishing a compaction of pushed rows a stop interrupted",
          {{"from", parts[0]}, {"to", parts[1]}});
  return CarryOut(std::stoull(parts[0]), std::stoull(parts[1]));
}

absl::StatusOr<std::unique_ptr<PushSession>> Pusher::OpenSession(
    const v1::PushOpen& open, PushListener listener) {
  if (!ValidProducer(open.producer())) {
    PushMetrics::Get().Reject("bad_open");
    return absl::InvalidArgumentError(
        StrCat("producer: '", open.producer(),
               "' is not 1 to 128 of [A-Za-z0-9_.:@-]"));
  }
  const v1::DataFormat format =
      open.format() == v1::DATA_FORMAT_UNSPECIFIED ? v1::FRAMES : open.format();
  if (format != v1::FRAMES && format != v1::JSONL) {
    PushMetrics::Get().Reject("bad_open");
    return absl::InvalidArgumentError(
        "format: a push sends FRAMES or JSONL (CSV is for uploads)");
  }
  auto dataset = ingestor_->GetDataset(open.dataset());
  if (!dataset.ok()) {
    PushMetrics::Get().Reject("no_dataset");
    if (!absl::IsNotFound(dataset.status())) return dataset.status();
    return absl::NotFoundError(
        StrCat("dataset '", open.dataset(),
               "' does not exist: a push adds rows to an existing dataset "
               "(create it with an upload first: mlpipe ingest)"));
  }
  auto state = std::make_shared<PushSession::State>();
  state->dataset = open.dataset();
  state->producer = open.producer();
  state->key = ProducerKey(open.dataset(), open.producer());
  state->format = format;
  state->listener = std::move(listener);
  for (const auto& f : dataset->schema().fields()) {
    state->index[f.name()] = state->fields.size();
    state->fields.push_back(f);
    if (f.type() != v1::COLUMN_TYPE_UNSPECIFIED)
      state->typer.Fix(f.name(), static_cast<table::ColumnType>(f.type()),
                       f.timestamp_format());
  }
  std::shared_ptr<PushSession::State> fenced;
  std::optional<int64_t> resume;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return absl::UnavailableError("the server is stopping");
    if (streams_ >= options_.max_streams) {
      PushMetrics::Get().Reject("too_many_streams");
      return absl::ResourceExhaustedError(
          StrCat(streams_, " push streams are open, the limit"));
    }
    if (!producers_.contains(state->key) &&
        producers_.size() >= options_.max_producers) {
      PushMetrics::Get().Reject("too_many_producers");
      return absl::ResourceExhaustedError(
          StrCat(producers_.size(), " producers are known, the limit"));
    }
    Producer& p = producers_[state->key];
    fenced = std::move(p.owner);
    p.owner = state;
    ++streams_;
    PushMetrics::Get().streams.Set(static_cast<double>(streams_));
    if (p.queued == p.durable) resume = p.durable;
  }
  if (fenced != nullptr) {
    fenced->End(absl::AbortedError(
        StrCat("producer '", open.producer(), "' of dataset '", open.dataset(),
               "' opened another stream; this one ends")));
  }
  return std::unique_ptr<PushSession>(
      new PushSession(this, std::move(state), resume));
}

void Pusher::CloseSession(const std::shared_ptr<PushSession::State>& state) {
  std::lock_guard lock(mu_);
  --streams_;
  PushMetrics::Get().streams.Set(static_cast<double>(streams_));
  auto it = producers_.find(state->key);
  if (it != producers_.end() && it->second.owner == state)
    it->second.owner.reset();
}

absl::Status Pusher::Enqueue(const std::shared_ptr<PushSession::State>& state,
                             int64_t sequence, std::string record,
                             bool* duplicate, std::optional<PushAck>* ack_now) {
  Record decoded;
  DecodeRecord(record, &decoded);
  const auto now = Clock::now();
  std::lock_guard lock(mu_);
  if (stopping_) return absl::UnavailableError("the server is stopping");
  Producer& p = producers_[state->key];
  if (p.owner != state) {
    return absl::AbortedError("another stream of this producer opened");
  }
  if (sequence <= p.queued) {
    *duplicate = true;
    ++state->duplicates;
    PushMetrics::Get().duplicates.Increment();
    if (sequence <= p.durable)
      *ack_now = PushAck{p.durable, state->duplicates, state->rows};
    return absl::OkStatus();
  }
  p.queued = sequence;
  Queued q;
  q.rows = decoded.rows;
  q.sequence = sequence;
  q.producer_key = state->key;
  q.session = state;
  q.bytes = record.size();
  q.at = now;
  q.record = std::move(record);
  state->unacked_bytes.fetch_add(q.bytes, std::memory_order_relaxed);
  queued_bytes_ += q.bytes;
  const bool first = queue_.empty();
  if (first) queue_since_ = now;
  queue_rows_ += static_cast<size_t>(q.rows);
  queue_.push_back(std::move(q));
  ++enqueued_;
  if (first || queue_rows_ >= options_.commit_rows) commit_cv_.notify_one();
  return absl::OkStatus();
}

void Pusher::CommitLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    commit_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // Stopping, nothing left.
    commit_cv_.wait_until(lock, queue_since_ + options_.commit_interval, [&] {
      return stopping_ || commit_now_ || queue_rows_ >= options_.commit_rows;
    });
    std::vector<Queued> batch;
    batch.swap(queue_);
    queue_rows_ = 0;
    commit_now_ = false;
    lock.unlock();
    Commit(std::move(batch));
    // The pages and the segment the next commits write, made now rather
    // than inside them.
    log_->Prepare();
    lock.lock();
  }
}

absl::Status Pusher::Reserve(size_t records) {
  constexpr uint64_t kAhead = 1 << 20;  // A synced write per 1M messages.
  const uint64_t need = log_->next() + records;
  if (need <= reserved_) return absl::OkStatus();
  storage::WriteBatch b;
  b.Put(kPush, "reserved", StrCat(need + kAhead));
  if (auto s = store_->Write(b, {.sync = true}); !s.ok()) return s;
  reserved_ = need + kAhead;
  return absl::OkStatus();
}

absl::Status Pusher::AppendWaiting(const std::vector<std::string>& records) {
  const auto give_up = Clock::now() + options_.full_log_wait;
  while (true) {
    auto appended = log_->Append(records);
    if (appended.ok() || !absl::IsResourceExhausted(appended.status()) ||
        Clock::now() >= give_up)
      return appended.status();
    std::unique_lock lock(mu_);
    if (stopping_) return appended.status();
    compact_cv_.notify_one();  // Room comes from a compaction.
    commit_cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
}

void Pusher::Commit(std::vector<Queued> batch) {
  std::vector<std::string> records;
  records.reserve(batch.size());
  size_t bytes = 0;
  for (Queued& q : batch) {
    bytes += q.bytes;
    records.push_back(std::move(q.record));
  }
  absl::Status appended = Reserve(records.size());
  if (appended.ok()) appended = AppendWaiting(records);
  if (!appended.ok()) {
    LogError("pushed rows could not be stored; their streams end",
             {{"error", std::string(appended.message())},
              {"messages", StrCat(batch.size())}});
    PushMetrics::Get().Reject("store_failed");
    return Abandon(batch, appended);
  }
  {
    std::lock_guard lock(mu_);
    appended_next_ = log_->next();  // Readable now (ReadPushed).
  }
  committed_cv_.notify_all();
  if (options_.TEST_before_sync) options_.TEST_before_sync();
  absl::Status synced = options_.sync ? log_->Sync() : absl::OkStatus();
  std::vector<std::pair<std::shared_ptr<PushSession::State>, PushAck>> acks;
  std::set<PushSession::State*> told;
  int64_t rows = 0;
  {
    std::lock_guard lock(mu_);
    synced_next_ = log_->next();
    queued_bytes_ -= std::min(queued_bytes_, bytes);
    for (Queued& q : batch) {
      Producer& p = producers_[q.producer_key];
      p.durable = std::max(p.durable, q.sequence);
      dirty_producers_.push_back(q.producer_key);
      pending_rows_[q.session->dataset] += q.rows;
      q.session->rows += q.rows;
      rows += q.rows;
    }
    uncompacted_rows_ += rows;
    resolved_ += batch.size();
    flushed_cv_.notify_all();
    for (Queued& q : batch) {
      Producer& p = producers_[q.producer_key];
      if (p.owner == nullptr || !told.insert(p.owner.get()).second) continue;
      acks.emplace_back(p.owner,
                        PushAck{p.durable, p.owner->duplicates, p.owner->rows});
    }
    if (uncompacted_rows_ >= options_.compact_rows) compact_cv_.notify_one();
  }
  auto& m = PushMetrics::Get();
  const auto now = Clock::now();
  for (Queued& q : batch) {
    q.session->unacked_bytes.fetch_sub(q.bytes, std::memory_order_relaxed);
    m.commit_seconds.Observe(Seconds(now - q.at));
  }
  m.rows.Increment(static_cast<double>(rows));
  m.messages.Increment(static_cast<double>(batch.size()));
  m.pending_rows.Increment(static_cast<double>(rows));
  if (!synced.ok()) {
    // In the log, not known durable: the producers send them again, and
    // find them there (duplicates).
    LogError("the push log could not be synced; streams end",
             {{"error", std::string(synced.message())}});
    for (auto& [state, ack] : acks) state->End(synced);
    return;
  }
  for (auto& [state, ack] : acks) state->Ack(ack);
}

void Pusher::Abandon(const std::vector<Queued>& batch,
                     const absl::Status& why) {
  std::set<std::string> keys;
  for (const Queued& q : batch) keys.insert(q.producer_key);
  std::vector<std::shared_ptr<PushSession::State>> ended;
  {
    std::lock_guard lock(mu_);
    for (const Queued& q : batch) {
      queued_bytes_ -= std::min(queued_bytes_, q.bytes);
    }
    resolved_ += batch.size();
    flushed_cv_.notify_all();
    std::vector<Queued> keep;
    for (Queued& q : queue_) {
      if (keys.contains(q.producer_key)) {
        ++resolved_;
        queued_bytes_ -= std::min(queued_bytes_, q.bytes);
        q.session->unacked_bytes.fetch_sub(q.bytes);
        queue_rows_ -= std::min(queue_rows_, static_cast<size_t>(q.rows));
      } else {
        keep.push_back(std::move(q));
      }
    }
    queue_.swap(keep);
    for (const std::string& k : keys) {
      Producer& p = producers_[k];
      p.queued = p.durable;
      if (p.owner != nullptr) ended.push_back(p.owner);
    }
  }
  for (const Queued& q : batch) q.session->unacked_bytes.fetch_sub(q.bytes);
  for (auto& s : ended) s->End(why);
}

// ---------------------------------------------------------------------------
// Compaction.

absl::Status Pusher::Flush() {
  std::unique_lock lock(mu_);
  if (stopping_) return absl::UnavailableError("the server is stopping");
  // What came before the call is made durable first.
  const uint64_t received = enqueued_;
  commit_now_ = true;
  commit_cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return stopping_ || resolved_ >= received; });
  if (stopping_) return absl::UnavailableError("the server is stopping");
  const uint64_t ticket = ++flush_asked_;
  compact_cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return stopping_ || flush_done_ >= ticket; });
  if (flush_done_ < ticket)
    return absl::UnavailableError("the server is stopping");
  return flush_result_;
}

int64_t Pusher::PendingRows(const std::string& dataset) const {
  std::lock_guard lock(mu_);
  auto it = pending_rows_.find(dataset);
  return it == pending_rows_.end() ? 0 : it->second;
}

absl::Status Pusher::ReadPushed(const std::string& dataset, int64_t after,
                                std::chrono::milliseconds wait,
                                size_t max_bytes, v1::PushedRows* out) {
  uint64_t from, to;
  {
    std::unique_lock lock(mu_);
    from = std::max<uint64_t>(
        static_cast<uint64_t>(std::max<int64_t>(after, 0)) + 1, compacted_);
    committed_cv_.wait_for(lock, wait,
                           [&] { return stopping_ || appended_next_ > from; });
    if (stopping_) return absl::UnavailableError("the server is stopping");
    to = appended_next_;
  }
  // What is compacted is read with the trim held off, so the log is not
  // trimmed past it while this reads (a Read would pass over what it lost).
  std::shared_lock reading(trim_mu_);
  {
    std::lock_guard lock(mu_);
    from = std::max(from, compacted_);
    out->set_compacted_before(static_cast<int64_t>(compacted_));
  }
  out->set_next_after(static_cast<int64_t>(from) - 1);
  if (from >= to) return absl::OkStatus();
  size_t bytes = 0;
  bool cut = false;  // By max_bytes.
  ForEachRecord(log_.get(), from, to, [&](uint64_t seq, const Record& r) {
    if (bytes >= max_bytes) {
      cut = true;
      return false;
    }
    out->set_next_after(static_cast<int64_t>(seq));
    if (r.dataset != dataset || r.rows == 0) return true;
    v1::PushedRecord* rec = out->add_records();
    rec->set_position(static_cast<int64_t>(seq));
    rec->set_received_micros(r.received_micros);
    if (!rec->mutable_frame()->ParseFromArray(
            r.frame.data(), static_cast<int>(r.frame.size()))) {
      out->mutable_records()->RemoveLast();
      return true;
    }
    bytes += r.frame.size();
    return true;
  });
  // Every position below `to` was looked at: past a gap in the log too (a
  // start skips the positions reserved before it), so the next call waits.
  if (!cut) out->set_next_after(static_cast<int64_t>(to) - 1);
  return absl::OkStatus();
}

void Pusher::CompactLoop() {
  // Compaction is background work: the commits producers wait for come
  // first (the threads its uploads start inherit this).
  util::LowerThreadPriority();
  std::unique_lock lock(mu_);
  absl::Status last;
  while (!stopping_) {
    const bool due =
        !compact_cv_.wait_for(lock, options_.compact_interval, [&] {
          return stopping_ || flush_asked_ > flush_done_ ||
                 uncompacted_rows_ >= options_.compact_rows;
        });
    if (stopping_) break;
    if (!due && flush_asked_ == flush_done_ &&
        uncompacted_rows_ < options_.compact_rows)
      continue;  // Woken for nothing.
    const uint64_t ticket = flush_asked_;
    lock.unlock();
    absl::Status s = CompactNow();
    if (!s.ok() && s.message() != last.message()) {
      LogWarning("pushed rows not compacted into versions yet (retried)",
                 {{"error", std::string(s.message())}});
    }
    last = s;
    lock.lock();
    flush_done_ = std::max(flush_done_, ticket);
    flush_result_ = s;
    flushed_cv_.notify_all();
    if (!s.ok()) {
      compact_cv_.wait_for(lock, std::chrono::seconds(1),
                           [&] { return stopping_; });
    }
  }
  flushed_cv_.notify_all();
}

absl::Status Pusher::CompactNow() {
  std::lock_guard compacting(compact_mu_);
  uint64_t target;
  {
    std::lock_guard lock(mu_);
    target = synced_next_;
  }
  while (true) {
    uint64_t from;
    {
      std::lock_guard lock(mu_);
      from = compacted_;
    }
    if (from >= target) return absl::OkStatus();
    // At most max_compact_rows rows in one version (at least one record).
    uint64_t to = from;
    int64_t rows = 0;
    ForEachRecord(log_.get(), from, target, [&](uint64_t seq, const Record& r) {
      if (to > from && rows + r.rows > options_.max_compact_rows) return false;
      rows += r.rows;
      to = seq + 1;
      return true;
    });
    if (to == from) to = target;  // Unreadable records: carried out as none.
    if (auto s = CompactRange(from, to); !s.ok()) return s;
  }
}

absl::Status Pusher::CompactRange(uint64_t from, uint64_t to) {
  std::vector<std::pair<std::string, int64_t>> marks;
  {
    std::lock_guard lock(mu_);
    std::sort(dirty_producers_.begin(), dirty_producers_.end());
    dirty_producers_.erase(
        std::unique(dirty_producers_.begin(), dirty_producers_.end()),
        dirty_producers_.end());
    for (const std::string& k : dirty_producers_)
      marks.emplace_back(k, producers_[k].durable);
    dirty_producers_.clear();
  }
  storage::WriteBatch plan;
  plan.Put(kPush, "plan", StrCat(from, " ", to));
  for (const auto& [k, seq] : marks) plan.Put(kPush, MarkKey(k), StrCat(seq));
  if (auto s = store_->Write(plan, {.sync = true}); !s.ok()) {
    std::lock_guard lock(mu_);
    for (const auto& [k, seq] : marks) dirty_producers_.push_back(k);
    return s;
  }
  return CarryOut(from, to);
}

absl::Status Pusher::CarryOut(uint64_t from, uint64_t to) {
  std::map<std::string, int64_t> rows;
  ForEachRecord(log_.get(), from, to, [&](uint64_t, const Record& r) {
    rows[std::string(r.dataset)] += r.rows;
    return true;
  });
  for (auto& [dataset, n] : rows) {
    if (n == 0) continue;
    if (auto s = CompactDataset(dataset, from, to, &n); !s.ok()) return s;
  }
  if (options_.TEST_stop_before_done)
    return absl::InternalError("TEST_stop_before_done");
  storage::WriteBatch done;
  done.Delete(kPush, "plan");
  done.Put(kPush, "compacted", StrCat(to));
  if (auto s = store_->Write(done, {.sync = true}); !s.ok()) return s;
  absl::Status trimmed;
  {
    std::unique_lock trimming(trim_mu_);
    {
      std::lock_guard lock(mu_);
      compacted_ = std::max(compacted_, to);  // Before the trim: ReadPushed.
    }
    trimmed = log_->Trim(to);
  }
  int64_t total = 0;
  {
    std::lock_guard lock(mu_);
    for (const auto& [dataset, n] : rows) {
      auto it = pending_rows_.find(dataset);
      if (it == pending_rows_.end()) continue;
      it->second -= std::min(it->second, n);
      if (it->second == 0) pending_rows_.erase(it);
      total += n;
    }
    uncompacted_rows_ -= std::min(uncompacted_rows_, total);
  }
  PushMetrics::Get().pending_rows.Decrement(static_cast<double>(total));
  PushMetrics::Get().compactions.Increment();
  return trimmed;
}

absl::Status Pusher::CompactDataset(const std::string& dataset, uint64_t from,
                                    uint64_t to, int64_t* rows) {
  auto drop = [&](std::string_view reason, const absl::Status& why) {
    LogError("pushed rows could not be added to their dataset: dropped",
             {{"dataset", dataset},
              {"rows", StrCat(*rows)},
              {"reason", std::string(reason)},
              {"error", std::string(why.message())}});
    PushMetrics::Get()
        .dropped_rows.Add({{"reason", std::string(reason)}})
        .Increment(static_cast<double>(*rows));
    return absl::OkStatus();
  };
  if (auto d = ingestor_->GetDataset(dataset); !d.ok()) {
    if (absl::IsNotFound(d.status()))
      return drop("dataset_deleted", d.status());
    return d.status();
  }
  v1::IngestHeader header;
  header.set_dataset(dataset);
  header.set_format(v1::FRAMES);
  header.set_mode(v1::APPEND);
  header.set_source("push");
  header.set_duplicates_within_batch(true);  // Costs the batch, not the set.
  header.set_idempotency_key(StrCat("push:", from, "-", to));
  auto upload = ingestor_->BeginUpload(header);
  if (!upload.ok()) return upload.status();
  absl::Status s;
  ForEachRecord(log_.get(), from, to, [&](uint64_t, const Record& r) {
    if (r.dataset != dataset || r.rows == 0) return true;
    v1::Frame frame;
    if (!frame.ParseFromArray(r.frame.data(),
                              static_cast<int>(r.frame.size()))) {
      s = absl::DataLossError("a pushed record in the log is corrupt");
      return false;
    }
    s = (*upload)->AddFrame(std::move(frame));
    return s.ok();
  });
  if (!s.ok()) return s;
  auto done = (*upload)->Finish();
  if (!done.ok()) {
    if (absl::IsFailedPrecondition(done.status()) ||
        absl::IsInvalidArgument(done.status()))
      return drop("schema_changed", done.status());
    return done.status();
  }
  LogInfo("pushed rows compacted into a dataset version",
          {{"dataset", dataset},
           {"rows", StrCat(*rows)},
           {"version", StrCat(done->version().version())},
           {"batch", done->batch().id()}});
  return absl::OkStatus();
}

void Pusher::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !committer_.joinable()) return;
    stopping_ = true;
  }
  commit_cv_.notify_all();
  compact_cv_.notify_all();
  flushed_cv_.notify_all();
  committed_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  if (compactor_.joinable()) compactor_.join();
  std::vector<std::shared_ptr<PushSession::State>> open;
  {
    std::lock_guard lock(mu_);
    for (auto& [k, p] : producers_) {
      if (p.owner != nullptr) open.push_back(p.owner);
    }
  }
  for (auto& s : open)
    s->End(
        absl::UnavailableError("the server is stopping; push again to "
                               "another or after the restart"));
}

}  // namespace mlpipe::ingest
