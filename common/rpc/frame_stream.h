// Server streams from pull-style sources, with flow control: the next
// message is read only when the previous one has been written, and an error
// ends the stream with its status. And the client side: a server stream of
// frames read as a FrameReader.
#ifndef MLPIPE_COMMON_RPC_FRAME_STREAM_H_
#define MLPIPE_COMMON_RPC_FRAME_STREAM_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/status/statusor.h"
#include "common/rpc/status.h"
#include "common/table/frame_reader.h"
#include "grpcpp/client_context.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/sync_stream.h"

namespace mlpipe::rpc {

// Fills the next message; false at the end.
template <typename T>
using NextMessage = std::function<absl::StatusOr<bool>(T*)>;

// Sends what `next` produces. `next` runs on a thread of its own (it may
// block: read a store, call another service), one message ahead of the
// writes, so gRPC's callback threads never wait on it.
template <typename T>
class MessageStreamReactor final : public grpc::ServerWriteReactor<T> {
 public:
  explicit MessageStreamReactor(absl::StatusOr<NextMessage<T>> next)
      : s_(std::make_shared<Shared>()) {
    if (!next.ok()) {
      s_->finished = true;
      this->Finish(ToGrpcStatus(next.status()));
      return;
    }
    s_->reactor = this;
    s_->next = std::move(*next);
    std::thread([s = s_] { Produce(s); }).detach();
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard lock(s_->mu);
    s_->writing = false;
    if (!ok) {
      s_->stop = true;
      s_->cv.notify_all();
      FinishLocked(
          grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    PumpLocked();
  }
  void OnCancel() override {
    std::lock_guard lock(s_->mu);
    s_->stop = true;
    s_->cv.notify_all();
    if (!s_->writing) FinishLocked(grpc::Status::CANCELLED);
  }
  void OnDone() override {
    {
      std::lock_guard lock(s_->mu);
      s_->stop = true;
      s_->reactor = nullptr;
      s_->cv.notify_all();
    }
    delete this;
  }

 private:
  // What the reactor and its producer thread share; the thread may outlive
  // the reactor (blocked in `next` after the client left).
  struct Shared {
    std::recursive_mutex mu;  // StartWrite may run OnWriteDone inline.
    std::condition_variable_any cv;
    MessageStreamReactor* reactor = nullptr;  // Null after OnDone.
    NextMessage<T> next;
    std::deque<T> ready;              // Produced, not yet written.
    std::optional<grpc::Status> end;  // The producer is done.
    bool writing = false, finished = false, stop = false;
  };

  static void Produce(std::shared_ptr<Shared> s) {
    while (true) {
      {
        std::unique_lock lock(s->mu);
        s->cv.wait(lock, [&] { return s->stop || s->ready.size() < 2; });
        if (s->stop) return;
      }
      T message;
      absl::StatusOr<bool> more = s->next(&message);
      std::lock_guard lock(s->mu);
      if (s->stop || s->reactor == nullptr) return;
      if (!more.ok()) {
        s->end = ToGrpcStatus(more.status());
      } else if (!*more) {
        s->end = grpc::Status::OK;
      } else {
        s->ready.push_back(std::move(message));
      }
      s->reactor->PumpLocked();
      if (s->end) return;
    }
  }
  // REQUIRES: s_->mu held.
  void PumpLocked() {
    if (s_->finished || s_->writing) return;
    if (!s_->ready.empty()) {
      message_ = std::move(s_->ready.front());
      s_->ready.pop_front();
      s_->writing = true;
      s_->cv.notify_all();
      this->StartWrite(&message_);
      return;
    }
    if (s_->end) FinishLocked(*s_->end);
  }
  // REQUIRES: s_->mu held.
  void FinishLocked(const grpc::Status& status) {
    if (s_->finished) return;
    s_->finished = true;
    this->Finish(status);
  }

  std::shared_ptr<Shared> s_;
  T message_;  // GUARDED_BY(s_->mu): the message being written.
};

template <typename T>
grpc::ServerWriteReactor<T>* StreamMessages(
    absl::StatusOr<NextMessage<T>> next) {
  return new MessageStreamReactor<T>(std::move(next));
}

// Opens the source of a frame stream.
using OpenFrames =
    std::function<absl::StatusOr<std::unique_ptr<table::FrameReader>>()>;

// Streams the frames of the reader `open` returns. `open` runs on the
// stream's producer thread too (opening may read stores or call other
// services), never on a gRPC callback thread.
grpc::ServerWriteReactor<v1::Frame>* StreamFrames(OpenFrames open);

// Starts a server-streaming call of frames on the context it is given.
using OpenFrameStream =
    std::function<std::unique_ptr<grpc::ClientReader<v1::Frame>>(
        grpc::ClientContext*)>;

// The call starts at the first Next; `keep` (e.g. the stub) lives as long as
// the reader.
std::unique_ptr<table::FrameReader> ReadFrameStream(
    OpenFrameStream open, std::shared_ptr<void> keep = nullptr);

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_FRAME_STREAM_H_
