#include "services/score/prediction_log.h"

#include <future>

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
  // What an earlier process left: shipped from its first record on (a
  // write that failed, or was cut by a crash, leaves a gap: none is lost).
  auto it = store_->Scan(kPredictionLog, "");
  if (it->Valid()) shipped_ = storage::DecodeU64(it->key()) - 1;
  for (; it->Valid(); it->Next()) {
    ++pending_;
    next_ = storage::DecodeU64(it->key()) + 1;
  }
  if (next_ <= shipped_) next_ = shipped_ + 1;
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

void PredictionLogger::Append(std::vector<v1::PredictionRecord> records,
                              std::function<void(bool logged)> done) {
  const size_t n = records.size();
  Queued q{.records = std::move(records),
           .serialized = std::vector<std::string>(n),
           .done = std::move(done)};
  for (size_t i = 0; i < n; ++i)
    q.records[i].SerializeToString(&q.serialized[i]);
  std::unique_lock lock(mu_);
  // Stopped, it still takes records (calls drained at shutdown): the next
  // start ships them.
  if (pending_ + writing_records_ + queued_records_ + n >
      options_.queue_capacity) {
    dropped_ += static_cast<int64_t>(n);
    lock.unlock();
    Metrics().log_dropped->Increment(static_cast<double>(n));
    q.done(false);
    return;
  }
  queue_.push_back(std::move(q));
  queued_records_ += n;
  if (committing_) return;  // The writing caller takes them.
  committing_ = true;
  CommitQueued(lock);
  committing_ = false;
}

void PredictionLogger::CommitQueued(std::unique_lock<std::mutex>& lock) {
  while (!queue_.empty()) {
    std::vector<Queued> round = std::move(queue_);
    queue_.clear();
    const size_t n = queued_records_;
    queued_records_ = 0;
    const uint64_t first = next_;
    next_ += n;
    writing_ = first;
    writing_records_ = n;
    lock.unlock();
    // The shipper reads only below writing_, so it never passes a record
    // written late.
    storage::WriteBatch b;
    uint64_t seq = first;
    for (const Queued& q : round)
      for (const std::string& r : q.serialized)
        b.Put(kPredictionLog, Key(seq++), r);
    const absl::Status s = store_->Write(b);
    size_t depth;
    lock.lock();
    writing_ = 0;
    writing_records_ = 0;
    if (s.ok()) {
      pending_ += n;
      HoldLocked(round, first);
    } else {
      dropped_ += static_cast<int64_t>(n);
    }
    depth = pending_;
    lock.unlock();
    if (!s.ok()) {
      Metrics().log_dropped->Increment(static_cast<double>(n));
      LogWarning("prediction log write failed",
                 {{"records", StrCat(n)}, {"error", std::string(s.message())}});
    } else {
      Metrics().log_depth->Set(static_cast<double>(depth));
      if (depth >= options_.batch_records) wake_.notify_one();
    }
    for (Queued& q : round) q.done(s.ok());
    lock.lock();
  }
}

void PredictionLogger::HoldLocked(std::vector<Queued>& round, uint64_t first) {
  // Only what continues the records held: held_ has no gap.
  if (!held_.empty() && held_first_ + held_.size() != first) return;
  size_t bytes = 0;
  for (const Queued& q : round)
    for (const std::string& r : q.serialized) bytes += r.size();
  if (held_bytes_ + bytes > options_.memory_bytes) return;
  if (held_.empty()) held_first_ = first;
  for (Queued& q : round)
    for (size_t i = 0; i < q.records.size(); ++i)
      held_.emplace_back(std::move(q.records[i]), q.serialized[i].size());
  held_bytes_ += bytes;
}

bool PredictionLogger::Log(std::vector<v1::PredictionRecord> records) {
  // Shared: `done` may still be returning on the writer's thread.
  auto logged = std::make_shared<std::promise<bool>>();
  std::future<bool> outcome = logged->get_future();
  Append(std::move(records), [logged](bool ok) { logged->set_value(ok); });
  return outcome.get();
}

uint64_t PredictionLogger::Written() const {
  return writing_ != 0 ? writing_ : next_;
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

PredictionLogger::Batch PredictionLogger::NextBatch() {
  Batch b;
  std::unique_lock lock(mu_);
  const uint64_t from = shipped_ + 1;
  if (!held_.empty() && held_first_ == from) {
    const size_t n = std::min(held_.size(), options_.batch_records);
    b.message.mutable_records()->Reserve(static_cast<int>(n));
    for (size_t i = 0; i < n; ++i) {
      *b.message.add_records() = std::move(held_.front().first);
      held_bytes_ -= held_.front().second;
      held_.pop_front();
    }
    held_first_ += n;
    b.first = from;
    b.last = b.shipped = from + n - 1;
    b.records = n;
    return b;
  }
  const uint64_t end =
      held_.empty() ? Written() : std::min(Written(), held_first_);
  lock.unlock();
  ReadBatch(from, end, &b);
  return b;
}

void PredictionLogger::ReadBatch(uint64_t from, uint64_t end, Batch* b) {
  const std::string end_key = Key(end);
  bool all = true;  // Every record below `end` is in the batch.
  for (auto it = store_->Scan(kPredictionLog, "", Key(from)); it->Valid();
       it->Next()) {
    if (it->key() >= end_key) break;
    if (b->records >= options_.batch_records) {
      all = false;
      break;
    }
    v1::PredictionRecord* r = b->message.add_records();
    if (!r->ParseFromArray(it->value().data(),
                           static_cast<int>(it->value().size()))) {
      LogWarning("prediction log: an unreadable record is skipped",
                 {{"key", StrCat(storage::DecodeU64(it->key()))}});
      b->message.mutable_records()->RemoveLast();
    }
    ++b->records;
    b->last = storage::DecodeU64(it->key());
    if (b->first == 0) b->first = b->last;
  }
  // Past a gap (a write that failed) too, when everything below is read.
  b->shipped = all ? end - 1 : b->last;
}

absl::StatusOr<size_t> PredictionLogger::ShipBatch() {
  Batch b;
  if (retry_.first != 0) {
    b = std::move(retry_);
    retry_ = Batch();
  } else {
    b = NextBatch();
  }
  if (b.first != 0) {
    if (b.message.records_size() > 0) {
      if (auto s = sink_->Write(b.message); !s.ok()) {
        retry_ = std::move(b);
        return s;
      }
    }
    // One range deletion: the store is read only for what memory did not
    // hold, so its iterators seldom meet these tombstones.
    storage::WriteBatch w;
    w.DeleteRange(kPredictionLog, Key(b.first), Key(b.last + 1));
    if (auto s = store_->Write(w); !s.ok()) {
      // Shipped all the same; a restart ships them again.
      LogWarning("prediction log: shipped records not deleted",
                 {{"error", std::string(s.message())}});
    }
  }
  std::lock_guard lock(mu_);
  shipped_ = std::max(shipped_, b.shipped);
  pending_ -= std::min(pending_, b.records);
  return b.records;
}

void PredictionLogger::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, options_.flush_interval, [&] {
      return stop_ || flush_ || pending_ >= options_.batch_records;
    });
    if (stop_) break;
    if (pending_ == 0) {
      shipped_ = std::max(shipped_, Written() - 1);  // Past failed writes.
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
