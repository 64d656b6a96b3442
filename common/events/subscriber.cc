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

void Subscriber::Loop() {
  const std::string& source = options_.source;
  absl::Duration backoff = absl::Milliseconds(200);
  do {
    grpc::ClientContext call;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      call_ = &call;
    }
    auto stub = v1::Events::NewStub(options_.channel());
    v1::SubscribeRequest req;
    req.set_source(source);
    req.set_from_sequence(options_.cursor() + 1);
    req.set_follow(true);
    auto reader = stub->Subscribe(&call, req);
    v1::Event event;
    bool healthy = true;
    while (healthy && reader->Read(&event)) {
      backoff = absl::Milliseconds(200);
      if (auto s = options_.handle(event); !s.ok()) {
        LogWarning("event not handled; retrying",
                   {{"source", source},
                    {"sequence", std::to_string(event.sequence())},
                    {"error", std::string(s.message())}});
        call.TryCancel();
        healthy = false;
      }
    }
    grpc::Status status = reader->Finish();
    {
      std::lock_guard lock(mu_);
      call_ = nullptr;
    }
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      LogWarning("event subscription ended; reconnecting",
                 {{"source", source}, {"error", status.error_message()}});
    }
    backoff = std::min(backoff * 2, absl::Seconds(10));
  } while (Pause(backoff));
}

}  // namespace mlpipe::events
