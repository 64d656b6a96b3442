// Follows another service's outbox (mlpipe.v1.Events/Subscribe) on a thread
// of its own: reconnects with backoff, resumes after the handler's durable
// cursor, and retries an event whose handler failed. The stream is read with
// gRPC's callback API: no thread of ours blocks inside gRPC's poller (a
// thread blocked in a synchronous Read joins the process's polling and is
// woken for every server call's I/O), and the handler runs on our thread,
// one event at a time (the next is read once it returns). A service that reacts
// to events (the orchestrator's triggers, prep's online store) runs one per
// source.
#ifndef MLPIPE_COMMON_EVENTS_SUBSCRIBER_H_
#define MLPIPE_COMMON_EVENTS_SUBSCRIBER_H_

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/events.pb.h"

namespace mlpipe::events {

struct SubscriberOptions {
  std::string source;  // The outbox to follow, e.g. "ingest".
  // The channel to the service that owns it (asked again at each reconnect).
  std::function<std::shared_ptr<grpc::Channel>()> channel;
  // The last sequence handled (durably); reading resumes after it.
  std::function<uint64_t()> cursor;
  // Handles one event and advances the cursor; an error retries the event.
  std::function<absl::Status(const v1::Event&)> handle;
};

class Subscriber {
 public:
  explicit Subscriber(SubscriberOptions options);  // Starts following.
  ~Subscriber();                                   // Stop().
  Subscriber(const Subscriber&) = delete;
  // Ends the subscription and joins the thread. Idempotent.
  void Stop();

 private:
  void Loop();
  // Waits `d`; false when stopping.
  bool Pause(absl::Duration d);
  class Reader;
  // One subscription from the cursor until it ends; its status.
  // `received`: set when an event arrived.
  grpc::Status Follow(grpc::ClientContext* call, bool* received);

  const SubscriberOptions options_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                // GUARDED_BY(mu_)
  grpc::ClientContext* call_ = nullptr;  // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace mlpipe::events

#endif  // MLPIPE_COMMON_EVENTS_SUBSCRIBER_H_
