// Worker threads running tasks now or at a time. Thread-safe.
#ifndef MLPIPE_COMMON_UTIL_TASK_POOL_H_
#define MLPIPE_COMMON_UTIL_TASK_POOL_H_

#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace mlpipe {

class TaskPool {
 public:
  explicit TaskPool(int threads);
  ~TaskPool();  // Shutdown()
  void Post(std::function<void()> fn) {
    PostAt(absl::InfinitePast(), std::move(fn));
  }
  void PostAt(absl::Time when, std::function<void()> fn);
  // Posts `fn` to run now unless `max_waiting` tasks already wait; false
  // (and `fn` dropped) then, or after Shutdown or Drain.
  bool TryPost(std::function<void()> fn, size_t max_waiting);
  // Drops tasks not yet started, waits for running ones. Idempotent.
  void Shutdown();
  // Runs every task posted so far (at once, whatever its time) and waits
  // for them; later posts are dropped.
  void Drain();

 private:
  void Loop();
  void Join();  // Waits for the threads to end.
  std::mutex mu_;
  std::condition_variable cv_;
  std::multimap<absl::Time, std::function<void()>> tasks_;  // GUARDED_BY(mu_)
  bool stop_ = false;                                       // GUARDED_BY(mu_)
  bool draining_ = false;                                   // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_TASK_POOL_H_
