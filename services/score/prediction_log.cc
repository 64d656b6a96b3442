#include "services/score/prediction_log.h"

#include <algorithm>

#include "common/storage/key_codec.h"
#include "common/util/log.h"
#include "common/util/proto_bytes.h"
#include "common/util/strings.h"
#include "services/score/score_metrics.h"

namespace mlpipe::score {

absl::StatusOr<std::unique_ptr<PredictionLogger>> PredictionLogger::Open(
    PredictionLoggerOptions options, const std::string& dir,
    storage::Store* legacy, PredictionSink* sink) {
  // Segments small enough that a few fit the limit.
  const size_t segment = static_cast<size_t>(std::min<uint64_t>(
      options.segment_bytes, std::max<uint64_t>(options.max_bytes / 4, 4096)));
  auto log = storage::SegmentLog::Open(
      dir, {.segment_bytes = segment,
            .max_bytes = options.max_bytes,
            .max_records = options.queue_capacity,
            .min_free_bytes = options.min_free_bytes});
  if (!log.ok()) return log.status();  // Damage found is logged there.
  std::unique_ptr<PredictionLogger> logger(
      new PredictionLogger(options, std::move(*log), sink));
  if (legacy != nullptr) {
    logger->MoveLegacy(legacy);
  }
  const uint64_t left = logger->log_->next() - logger->shipped_;
  if (left > 0) {
    LogInfo("prediction log: records from before the restart to ship",
            {{"records", StrCat(left)}});
  }
  logger->thread_ = std::thread([raw = logger.get()] { raw->Loop(); });
  return logger;
}

PredictionLogger::PredictionLogger(PredictionLoggerOptions options,
                                   std::unique_ptr<storage::SegmentLog> log,
                                   PredictionSink* sink)
    : options_(options),
      log_(std::move(log)),
      sink_(sink),
      shipped_(log_->trimmed()) {}

void PredictionLogger::MoveLegacy(storage::Store* store) {
  size_t moved = 0, unreadable = 0;
  absl::Status stopped;
  while (stopped.ok()) {
    std::vector<std::string> records;
    std::string first, last;
    v1::PredictionRecord check;
    for (auto it = store->Scan(kPredictionLog, ""); it->Valid(); it->Next()) {
      if (records.size() >= options_.batch_records) break;
      if (first.empty()) first = it->key();
      last = it->key();
      // Shipped as stored later: one that does not parse would fail its
      // whole batch at the monitor.
      if (!check.ParseFromArray(it->value().data(),
                                static_cast<int>(it->value().size()))) {
        ++unreadable;
        continue;
      }
      records.emplace_back(it->value());
    }
    if (first.empty()) break;
    if (auto s = log_->Append(records); !s.ok()) {
      stopped = s.status();
      break;
    }
    storage::WriteBatch b;
    b.DeleteRange(kPredictionLog, first, storage::PrefixEnd(last));
    stopped = store->Write(b);  // Failed: moved again by the next start.
    moved += records.size();
  }
  if (moved > 0 || unreadable > 0) {
    LogInfo("prediction log: records of an older version moved to the log",
            {{"records", StrCat(moved)},
             {"unreadable_skipped", StrCat(unreadable)}});
  }
  if (!stopped.ok()) {
    // Scoring starts all the same; what is left is moved by a later start.
    LogWarning(
        "prediction log: records of an older version left in the "
        "score store, to move at the next start",
        {{"error", std::string(stopped.message())}});
  }
}

PredictionLogger::~PredictionLogger() { Stop(); }

void PredictionLogger::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  wake_.notify_all();
  done_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PredictionLogger::Drop(size_t n, std::string_view why) {
  const int64_t before = dropped_.fetch_add(static_cast<int64_t>(n));
  Metrics().log_dropped->Increment(static_cast<double>(n));
  // The first, then one line per 10,000 (the metric counts each).
  if (before == 0 ||
      before / 10000 != (before + static_cast<int64_t>(n)) / 10000) {
    LogWarning("prediction log: records dropped",
               {{"records", StrCat(n)},
                {"dropped_so_far", StrCat(before + static_cast<int64_t>(n))},
                {"error", std::string(why)}});
  }
}

bool PredictionLogger::Log(const std::vector<v1::PredictionRecord>& records) {
  std::vector<std::string> serialized(records.size());
  for (size_t i = 0; i < records.size(); ++i)
    records[i].SerializeToString(&serialized[i]);
  return Log(serialized);
}

bool PredictionLogger::Log(const std::vector<std::string>& serialized) {
  if (serialized.empty()) return true;
  // Stopped, it still takes records (calls drained at shutdown): the next
  // start ships them.
  const size_t n = serialized.size();
  auto first = log_->Append(serialized);
  if (!first.ok()) {
    Drop(n, std::string(first.status().message()));
    return false;
  }
  const uint64_t depth = *first + n - shipped_.load();
  // Once per crossing: the shipper is not woken for every call.
  if (depth >= options_.batch_records && depth - n < options_.batch_records)
    wake_.notify_one();
  return true;
}

bool PredictionLogger::Flush(std::chrono::milliseconds timeout) {
  const uint64_t target = log_->next();
  std::unique_lock lock(mu_);
  flush_ = true;
  wake_.notify_one();
  return done_.wait_for(lock, timeout, [&] {
    return shipped_.load() >= target || stop_;
  }) && shipped_.load() >= target;
}

size_t PredictionLogger::depth() const {
  return log_->next() - shipped_.load();
}

int64_t PredictionLogger::dropped() const { return dropped_.load(); }

// Errors a sink gives for what a batch holds: sending it again cannot help.
// (Unavailable, overloaded, unauthorized: the records are fine; retried.)
bool RefusedForContent(const absl::Status& s) {
  return absl::IsInvalidArgument(s) || absl::IsOutOfRange(s) ||
         absl::IsDataLoss(s);
}

absl::StatusOr<size_t> PredictionLogger::ShipBatch(size_t max_records) {
  // The batch in its wire form, from the records as they are in the log
  // (checked there): each one field 1 of a v1::PredictionBatch.
  std::string batch;
  size_t records = 0;
  const uint64_t from = shipped_.load();
  const uint64_t next = log_->Read(
      from, std::min(max_records, options_.batch_records), options_.batch_bytes,
      [&](uint64_t, std::string_view record) {
        AppendLengthDelimited(&batch, 1, record);  // PredictionBatch.records
        ++records;
      });
  if (records > 0) {
    if (auto s = sink_->Write(batch, records); !s.ok()) return s;
  }
  if (auto s = log_->Trim(next); !s.ok()) {
    // Shipped all the same; a restart ships them again.
    LogWarning("prediction log: shipped records not trimmed",
               {{"error", std::string(s.message())}});
  }
  shipped_.store(next);
  return next - from;
}

void PredictionLogger::Isolate(const absl::Status& refused, size_t* limit) {
  const size_t tried = std::min<size_t>(*limit, depth());
  if (tried > 1) {
    *limit = tried / 2;  // The first half next; the rest after.
    return;
  }
  const uint64_t bad = shipped_.load();
  if (auto s = log_->Trim(bad + 1); !s.ok()) {
    LogWarning("prediction log: a refused record not trimmed",
               {{"error", std::string(s.message())}});
  }
  shipped_.store(bad + 1);
  Metrics().log_rejected->Increment();
  LogWarning(
      "prediction log: the sink refused a record for what it holds; "
      "dropped",
      {{"record", StrCat(bad)}, {"error", std::string(refused.message())}});
  *limit = options_.batch_records;
}

void PredictionLogger::Loop() {
  size_t limit = options_.batch_records;  // Less while isolating a record.
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, options_.flush_interval, [&] {
      return stop_ || flush_ || depth() >= options_.batch_records;
    });
    if (stop_) break;
    if (depth() == 0) {
      flush_ = false;
      done_.notify_all();
      lock.unlock();
      log_->Prepare();
      lock.lock();
      continue;
    }
    lock.unlock();
    auto shipped = ShipBatch(limit);
    const bool content = !shipped.ok() && RefusedForContent(shipped.status());
    if (shipped.ok()) {
      Metrics().log_written->Increment(static_cast<double>(*shipped));
    } else {
      Metrics().log_failed->Increment();
      LogWarning(content ? "prediction log: the sink refused a batch for what "
                           "it holds; narrowing it down"
                         : "prediction log: the sink refused a batch; kept, "
                           "retried",
                 {{"error", std::string(shipped.status().message())}});
      if (content) Isolate(shipped.status(), &limit);
    }
    Metrics().log_depth->Set(static_cast<double>(depth()));
    log_->Prepare();
    lock.lock();
    done_.notify_all();
    if (!shipped.ok() && !content) {
      wake_.wait_for(lock, options_.retry_interval, [&] { return stop_; });
    }
  }
  done_.notify_all();
}

}  // namespace mlpipe::score
