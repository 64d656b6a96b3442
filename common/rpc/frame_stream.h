// Server streams from pull-style sources, with flow control: the next
// message is read only when the previous one has been written, and an error
// ends the stream with its status. And the client side: a server stream of
// frames read as a FrameReader.
#ifndef MLPIPE_COMMON_RPC_FRAME_STREAM_H_
#define MLPIPE_COMMON_RPC_FRAME_STREAM_H_

#include <functional>
#include <memory>

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

template <typename T>
class MessageStreamReactor final : public grpc::ServerWriteReactor<T> {
 public:
  explicit MessageStreamReactor(absl::StatusOr<NextMessage<T>> next) {
    if (!next.ok()) {
      this->Finish(ToGrpcStatus(next.status()));
      return;
    }
    next_ = std::move(*next);
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok)
      return this->Finish(
          grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    auto more = next_(&message_);
    if (!more.ok()) return this->Finish(ToGrpcStatus(more.status()));
    if (!*more) return this->Finish(grpc::Status::OK);
    this->StartWrite(&message_);
  }
  NextMessage<T> next_;
  T message_;
};

template <typename T>
grpc::ServerWriteReactor<T>* StreamMessages(
    absl::StatusOr<NextMessage<T>> next) {
  return new MessageStreamReactor<T>(std::move(next));
}

grpc::ServerWriteReactor<v1::Frame>* StreamFrames(
    absl::StatusOr<std::unique_ptr<table::FrameReader>> reader);

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
