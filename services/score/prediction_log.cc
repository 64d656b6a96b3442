#include "services/score/prediction_log.h"

#include "common/storage/key_codec.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/score/score_metrics.h"

namespace mlpipe::score {
namespace {

std::string Key(uint64_t sequence) {
  std::string k;
  storage::AppendU64(&k, sequence);
  return k;
}

}  // namespace

PredictionLogger::PredictionLogger(PredictionLoggerOptions options,
                                   storage::Store* store, PredictionSink* sink)
    : options_(options), store_(store), sink_(sink) {
  // What an earlier process left: shipped from its first record on.
  auto first = store_->Scan(kPredictionLog, "");
  if (first->Valid()) shipped_ = storage::DecodeU64(first->key()) - 1;
  auto last = store_->LastKey(kPredictionLog);
  if (last.ok() && last->has_value()) {
    next_ = storage::DecodeU64(**last) + 1;
    pending_ = static_cast<size_t>(next_ - 1 - shipped_);
  } else {
    next_ = shipped_ + 1;
  }
  if (pending_ > 0) {
    LogInfo("prediction log: records from before the restart to ship",
            {{"records", StrCat(pending_)}});
  }
  thread_ = std::thread([this] { Loop(); });
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

bool PredictionLogger::Log(std::vector<v1::PredictionRecord> records) {
  size_t depth;
  {
    std::lock_guard lock(mu_);
    // Stopped, it still takes records (calls drained at shutdown): the
    // next start ships them.
    if (pending_ + records.size() > options_.queue_capacity) {
      dropped_ += static_cast<int64_t>(records.size());
      Metrics().log_dropped->Increment(static_cast<double>(records.size()));
      return false;
    }
    // Sequences are taken and written under the lock, so the log never has
    // a gap a reader could pass before it is filled.
    storage::WriteBatch b;
    for (const auto& r : records)
      b.Put(kPredictionLog, Key(next_++), r.SerializeAsString());
    if (auto s = store_->Write(b); !s.ok()) {
      next_ -= records.size();
      dropped_ += static_cast<int64_t>(records.size());
      Metrics().log_dropped->Increment(static_cast<double>(records.size()));
      LogWarning("prediction log write failed",
                 {{"records", StrCat(records.size())},
                  {"error", std::string(s.message())}});
      return false;
    }
    pending_ += records.size();
    depth = pending_;
  }
  Metrics().log_depth->Set(static_cast<double>(depth));
  if (depth >= options_.batch_records) wake_.notify_one();
  return true;
}

bool PredictionLogger::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const uint64_t target = next_ - 1;
  flush_ = true;
  wake_.notify_one();
  return done_.wait_for(lock, timeout, [&] {
    return shipped_ >= target || stop_;
  }) && shipped_ >= target;
}

size_t PredictionLogger::depth() const {
  std::lock_guard lock(mu_);
  return pending_;
}

int64_t PredictionLogger::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

absl::StatusOr<size_t> PredictionLogger::ShipBatch() {
  std::vector<v1::PredictionRecord> batch;
  std::string first, last;
  for (auto it = store_->Scan(kPredictionLog, ""); it->Valid(); it->Next()) {
    if (batch.size() >= options_.batch_records) break;
    v1::PredictionRecord r;
    if (!r.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      LogWarning("prediction log: an unreadable record is skipped",
                 {{"key", StrCat(storage::DecodeU64(it->key()))}});
    } else {
      batch.push_back(std::move(r));
    }
    if (first.empty()) first = std::string(it->key());
    last = std::string(it->key());
  }
  if (first.empty()) return 0;
  const size_t n = static_cast<size_t>(storage::DecodeU64(last) -
                                       storage::DecodeU64(first) + 1);
  if (!batch.empty()) {
    if (auto s = sink_->Write(std::move(batch)); !s.ok()) return s;
  }
  storage::WriteBatch b;
  b.DeleteRange(kPredictionLog, first, Key(storage::DecodeU64(last) + 1));
  if (auto s = store_->Write(b); !s.ok()) return s;
  std::lock_guard lock(mu_);
  shipped_ = storage::DecodeU64(last);
  pending_ -= std::min(pending_, n);
  return n;
}

void PredictionLogger::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, options_.flush_interval, [&] {
      return stop_ || flush_ || pending_ >= options_.batch_records;
    });
    if (stop_) break;
    if (pending_ == 0) {
      flush_ = false;
      done_.notify_all();
      continue;
    }
    lock.unlock();
    auto shipped = ShipBatch();
    if (shipped.ok()) {
      Metrics().log_written->Increment(static_cast<double>(*shipped));
    } else {
      Metrics().log_failed->Increment();
      LogWarning("prediction log: the sink refused a batch; kept, retried",
                 {{"error", std::string(shipped.status().message())}});
    }
    Metrics().log_depth->Set(static_cast<double>(depth()));
    lock.lock();
    done_.notify_all();
    if (!shipped.ok()) {
      wake_.wait_for(lock, options_.retry_interval, [&] { return stop_; });
    }
  }
  done_.notify_all();
}

}  // namespace mlpipe::score
