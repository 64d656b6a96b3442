#include "common/util/background_loop.h"

#include <sys/resource.h>
#include <unistd.h>

namespace mlpipe::util {

BackgroundLoop::~BackgroundLoop() { Stop(); }

void BackgroundLoop::Start(std::function<void(BackgroundLoop&)> body) {
  thread_ = std::thread([this, body = std::move(body)] { body(*this); });
}

bool BackgroundLoop::Wait(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_ || woken_; });
  woken_ = false;
  return !stopping_;
}

void BackgroundLoop::Wake() {
  std::lock_guard lock(mu_);
  woken_ = true;
  cv_.notify_all();
}

void BackgroundLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id())
    thread_.join();
}

bool BackgroundLoop::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

void LowerThreadPriority() {
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
}

}  // namespace mlpipe::util
