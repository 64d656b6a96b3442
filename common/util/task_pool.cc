#include "common/util/task_pool.h"

#include "absl/time/clock.h"

namespace mlpipe {

TaskPool::TaskPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

TaskPool::~TaskPool() { Shutdown(); }

void TaskPool::PostAt(absl::Time when, std::function<void()> fn) {
  std::lock_guard lock(mu_);
  if (stop_ || draining_) return;
  tasks_.emplace(when, std::move(fn));
  cv_.notify_one();
}

bool TaskPool::TryPost(std::function<void()> fn, size_t max_waiting) {
  std::lock_guard lock(mu_);
  if (stop_ || draining_ || tasks_.size() >= max_waiting) return false;
  tasks_.emplace(absl::InfinitePast(), std::move(fn));
  cv_.notify_one();
  return true;
}

void TaskPool::Shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && threads_.empty()) return;
    stop_ = true;
    tasks_.clear();
    cv_.notify_all();
  }
  Join();
}

void TaskPool::Drain() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && threads_.empty()) return;
    draining_ = true;
    cv_.notify_all();
  }
  Join();
  std::lock_guard lock(mu_);
  stop_ = true;
}

void TaskPool::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void TaskPool::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    if (tasks_.empty()) {
      if (draining_) return;
      cv_.wait(lock);
      continue;
    }
    absl::Time due = tasks_.begin()->first;
    absl::Time now = absl::Now();
    if (due > now && !draining_) {
      cv_.wait_for(lock, absl::ToChronoNanoseconds(due - now));
      continue;
    }
    auto fn = std::move(tasks_.begin()->second);
    tasks_.erase(tasks_.begin());
    lock.unlock();
    fn();
    lock.lock();
  }
}

}  // namespace mlpipe
