// A thread that runs a loop body until it is stopped: the body waits between
// rounds with Wait(), which returns early on Wake() and false once Stop() is
// called. The one way mlpipe's modules run background work (route syncs,
// schedules, follow loops), so every such thread stops the same way.
#ifndef MLPIPE_COMMON_UTIL_BACKGROUND_LOOP_H_
#define MLPIPE_COMMON_UTIL_BACKGROUND_LOOP_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace mlpipe::util {

// Thread-safe.
class BackgroundLoop {
 public:
  BackgroundLoop() = default;
  ~BackgroundLoop();  // Stop().
  BackgroundLoop(const BackgroundLoop&) = delete;
  BackgroundLoop& operator=(const BackgroundLoop&) = delete;

  // Runs `body` on its own thread. REQUIRES: not started yet.
  void Start(std::function<void(BackgroundLoop&)> body);
  // Waits up to `d`, or until Wake() or Stop(). Returns false once stopping
  // (the body should return), true otherwise.
  bool Wait(std::chrono::milliseconds d);
  // Ends the current (or the next) Wait early.
  void Wake();
  // Asks the body to return and joins its thread. Idempotent.
  void Stop();
  bool stopping() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // GUARDED_BY(mu_)
  bool woken_ = false;     // GUARDED_BY(mu_)
  std::thread thread_;
};

// Lowers the calling thread's CPU priority (nice 10), and that of the
// threads it starts from then on: background work that latency-critical
// threads of the process come before.
void LowerThreadPriority();

}  // namespace mlpipe::util

#endif  // MLPIPE_COMMON_UTIL_BACKGROUND_LOOP_H_
