#include "services/score/prediction_log.h"

#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/score/score_metrics.h"

namespace mlpipe::score {
PredictionLogger::PredictionLogger(PredictionLoggerOptions options,
                                   PredictionSink* sink)
    : options_(options), sink_(sink), thread_([this] { Loop(); }) {}

PredictionLogger::~PredictionLogger() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

bool PredictionLogger::Log(std::vector<v1::PredictionRecord> records) {
  size_t depth;
  {
    std::lock_guard lock(mu_);
    if (stop_ || queue_.size() + records.size() > options_.queue_capacity) {
      dropped_ += static_cast<int64_t>(records.size());
      Metrics().log_dropped->Increment(static_cast<double>(records.size()));
      return false;
    }
    for (auto& r : records) queue_.push_back(std::move(r));
    queued_ += records.size();
    depth = queue_.size();
  }
  Metrics().log_depth->Set(static_cast<double>(depth));
  if (depth >= options_.batch_records) wake_.notify_one();
  return true;
}

void PredictionLogger::Flush() {
  std::unique_lock lock(mu_);
  uint64_t target = queued_;
  flush_ = true;
  wake_.notify_one();
  done_.wait(lock, [&] { return handled_ >= target; });
}

size_t PredictionLogger::depth() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

int64_t PredictionLogger::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void PredictionLogger::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    wake_.wait_for(lock, options_.flush_interval, [&] {
      return stop_ || flush_ || queue_.size() >= options_.batch_records;
    });
    if (queue_.empty()) {
      flush_ = false;
      done_.notify_all();
      if (stop_) return;
      continue;
    }
    std::vector<v1::PredictionRecord> batch;
    size_t n = std::min(queue_.size(), options_.batch_records);
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    size_t depth = queue_.size();
    lock.unlock();
    Metrics().log_depth->Set(static_cast<double>(depth));
    absl::Status s = sink_->Write(std::move(batch));
    if (s.ok()) {
      Metrics().log_written->Increment(static_cast<double>(n));
    } else {
      Metrics().log_failed->Increment();
      LogWarning("prediction log write failed",
                 {{"records", StrCat(n)}, {"error", std::string(s.message())}});
    }
    lock.lock();
    handled_ += n;
    done_.notify_all();
  }
}

}  // namespace mlpipe::score
