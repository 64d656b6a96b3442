// A server-streaming reactor that sends the state of one resource (a run, an
// operation) and then its new state at every change, until it ends. Changes
// that arrive while a write is in flight are coalesced into the latest, so a
// slow watcher never holds up the work it watches. T needs revision().
#ifndef MLPIPE_COMMON_RPC_WATCH_REACTOR_H_
#define MLPIPE_COMMON_RPC_WATCH_REACTOR_H_

#include <functional>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"
#include "common/rpc/status.h"
#include "grpcpp/support/server_callback.h"

namespace mlpipe::rpc {

template <typename T>
struct WatchSource {
  // Registers a callback for every change of the watched resource (the
  // caller filters by id); returns a handle for remove_listener.
  std::function<int(std::function<void(const T&)>)> add_listener;
  std::function<void(int)> remove_listener;
  // The resource now (NOT_FOUND ends the watch with that status).
  std::function<absl::StatusOr<T>()> get;
  // True for a final state: the stream ends after sending it.
  std::function<bool(const T&)> ended;
};

template <typename T>
class WatchReactor final : public grpc::ServerWriteReactor<T> {
 public:
  explicit WatchReactor(WatchSource<T> source) : source_(std::move(source)) {
    listener_ = source_.add_listener([this](const T& v) {
      std::lock_guard lock(mu_);
      Offer(v);
    });
    auto now = source_.get();
    std::lock_guard lock(mu_);
    if (now.ok()) {
      Offer(*now);
    } else {
      FinishLocked(ToGrpcStatus(now.status()));
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      return FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "watcher went away"));
    }
    if (source_.ended(current_)) return FinishLocked(grpc::Status::OK);
    if (next_) {
      current_ = std::move(*next_);
      next_.reset();
      writing_ = true;
      this->StartWrite(&current_);
    }
  }
  void OnCancel() override {
    std::lock_guard lock(mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    source_.remove_listener(listener_);
    delete this;
  }

 private:
  // REQUIRES: mu_ held.
  void Offer(const T& v) {
    // The first snapshot can race the listener: keep revisions in order.
    if (finished_ || sent_final_ || v.revision() <= last_revision_) return;
    last_revision_ = v.revision();
    sent_final_ = source_.ended(v);
    if (writing_) {
      next_ = v;
      return;
    }
    current_ = v;
    writing_ = true;
    this->StartWrite(&current_);
  }
  void FinishLocked(const grpc::Status& s) {
    if (finished_) return;
    finished_ = true;
    this->Finish(s);
  }

  WatchSource<T> source_;
  int listener_ = -1;
  std::mutex mu_;
  T current_;              // GUARDED_BY(mu_)
  std::optional<T> next_;  // GUARDED_BY(mu_)
  bool writing_ = false, finished_ = false,
       sent_final_ = false;  // GUARDED_BY(mu_)
  std::decay_t<decltype(std::declval<T>().revision())> last_revision_ =
      0;  // GUARDED_BY(mu_)
};

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_WATCH_REACTOR_H_
