#include "common/events/events_service.h"

#include <deque>
#include <mutex>

#include "common/util/strings.h"

namespace mlpipe::events {
namespace {

// Finishes at once with the status it was given.
class FailedReactor final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  void OnDone() override { delete this; }
};

// Sends events from a cursor; when caught up, either finishes or (follow)
// waits for the log to announce new commits. Never blocks a gRPC thread.
class SubscribeReactor final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  SubscribeReactor(EventLog* log, const v1::SubscribeRequest& request)
      : log_(log),
        cursor_(request.from_sequence()),
        topics_(request.topics().begin(), request.topics().end()),
        follow_(request.follow()) {
    if (request.follow()) {
      listener_ = log_->AddListener([this] {
        std::lock_guard lock(mu_);
        if (waiting_) {
          waiting_ = false;
          NextLocked();
        }
      });
    }
    std::lock_guard lock(mu_);
    NextLocked();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok)
      return FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "subscriber went away"));
    NextLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (listener_ >= 0) log_->RemoveListener(listener_);
    delete this;
  }

 private:
  void NextLocked() {
    if (finished_ || writing_) return;
    if (pending_.empty()) {
      auto events = log_->Read(cursor_, topics_, 256, &cursor_);
      if (!events.ok()) {
        return FinishLocked(
            grpc::Status(grpc::StatusCode::DATA_LOSS,
                         std::string(events.status().message())));
      }
      for (auto& e : *events) pending_.push_back(std::move(e));
      if (pending_.empty()) {
        if (!follow_) return FinishLocked(grpc::Status::OK);
        // Re-check after arming: a commit may have landed since Read.
        if (log_->last_sequence() >= cursor_) return NextLocked();
        waiting_ = true;
        return;
      }
    }
    current_ = std::move(pending_.front());
    pending_.pop_front();
    writing_ = true;
    StartWrite(&current_);
  }

  void FinishLocked(const grpc::Status& status) {
    if (finished_) return;
    finished_ = true;
    waiting_ = false;
    Finish(status);
  }

  EventLog* const log_;
  std::mutex mu_;
  uint64_t cursor_;  // GUARDED_BY(mu_)
  const std::vector<std::string> topics_;
  const bool follow_;
  int listener_ = -1;
  std::deque<v1::Event> pending_;  // GUARDED_BY(mu_)
  v1::Event current_;              // GUARDED_BY(mu_)
  bool writing_ = false;           // GUARDED_BY(mu_)
  bool waiting_ = false;           // GUARDED_BY(mu_)
  bool finished_ = false;          // GUARDED_BY(mu_)
};

}  // namespace

grpc::ServerWriteReactor<v1::Event>* EventsService::Subscribe(
    grpc::CallbackServerContext* context, const v1::SubscribeRequest* request) {
  auto it = logs_.find(request->source());
  if (it == logs_.end()) {
    std::string known;
    for (const auto& [name, log] : logs_) {
      StrAppend(&known, known.empty() ? "" : ", ", name);
    }
    auto* r = new FailedReactor();
    r->Finish(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                     StrCat("source: unknown event source '", request->source(),
                            "' (this server has: ", known, ")")));
    return r;
  }
  return new SubscribeReactor(it->second, *request);
}

}  // namespace mlpipe::events
