#include "common/events/subscriber.h"

#include "absl/time/time.h"
#include "common/util/log.h"
#include "mlpipe/v1/events.grpc.pb.h"

namespace mlpipe::events {

Subscriber::Subscriber(SubscriberOptions options)
    : options_(std::move(options)), thread_([this] { Loop(); }) {}

Subscriber::~Subscriber() { Stop(); }

void Subscriber::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (call_ != nullptr) call_->TryCancel();
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

bool Subscriber::Pause(absl::Duration d) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, absl::ToChronoNanoseconds(d),
                 [this] { return stopping_; });
  return !stopping_;
}

// The stream's reads, handed to the subscriber's thread.
class Subscriber::Reader : public grpc::ClientReadReactor<v1::Event> {
 public:
  // The next event (StartRead must have been called); false at the end.
  bool Next(v1::Event* event) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return read_ != kPending; });
    const bool ok = read_ == kRead;
    read_ = kPending;
    if (ok) *event = std::move(event_);
    return ok;
  }
  void Read() { StartRead(&event_); }
  // Waits for the end of the call: its status.
  grpc::Status Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return status_;
  }
  void OnReadDone(bool ok) override {
    std::lock_guard lock(mu_);
    read_ = ok ? kRead : kEnded;
    cv_.notify_all();
  }
  void OnDone(const grpc::Status& s) override {
    std::lock_guard lock(mu_);
    status_ = s;
    done_ = true;
    if (read_ == kPending) read_ = kEnded;
    cv_.notify_all();
  }

 private:
  enum { kPending, kRead, kEnded };
  std::mutex mu_;
  std::condition_variable cv_;
  v1::Event event_;
  int read_ = kPending;  // GUARDED_BY(mu_)
  bool done_ = false;    // GUARDED_BY(mu_)
  grpc::Status status_;  // GUARDED_BY(mu_)
};

grpc::Status Subscriber::Follow(grpc::ClientContext* call, bool* received) {
  auto stub = v1::Events::NewStub(options_.channel());
  v1::SubscribeRequest req;
  req.set_source(options_.source);
  req.set_from_sequence(options_.cursor() + 1);
  req.set_follow(true);
  Reader reader;
  stub->async()->Subscribe(call, &req, &reader);
  // Reads are started from this thread, not from a reaction: the hold
  // keeps the call (and OnDone) from ending while the handler runs, even
  // when Stop cancels it meanwhile (a read started after OnDone would use
  // the call once it is gone).
  reader.AddHold();
  reader.Read();
  reader.StartCall();
  v1::Event event;
  while (reader.Next(&event)) {
    *received = true;
    if (auto s = options_.handle(event); !s.ok()) {
      LogWarning("event not handled; retrying",
                 {{"source", options_.source},
                  {"sequence", std::to_string(event.sequence())},
                  {"error", std::string(s.message())}});
      call->TryCancel();
      break;
    }
    reader.Read();
  }
  reader.RemoveHold();
  return reader.Wait();
}

void Subscriber::Loop() {
  absl::Duration backoff = absl::Milliseconds(200);
  do {
    grpc::ClientContext call;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      call_ = &call;
    }
    bool received = false;
    grpc::Status status = Follow(&call, &received);
    {
      std::lock_guard lock(mu_);
      call_ = nullptr;
    }
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      LogWarning(
          "event subscription ended; reconnecting",
          {{"source", options_.source}, {"error", status.error_message()}});
    }
    if (received) backoff = absl::Milliseconds(200);
    backoff = std::min(backoff * 2, absl::Seconds(10));
  } while (Pause(backoff));
}

}  // namespace mlpipe::events
