#include "common/rpc/frame_stream.h"

#include "common/rpc/status.h"

namespace mlpipe::rpc {
namespace {

class FrameStreamReactor final : public grpc::ServerWriteReactor<v1::Frame> {
 public:
  explicit FrameStreamReactor(
      absl::StatusOr<std::unique_ptr<table::FrameReader>> reader) {
    if (!reader.ok()) {
      Finish(ToGrpcStatus(reader.status()));
      return;
    }
    reader_ = std::move(*reader);
    Next();
  }
  void OnWriteDone(bool ok) override {
    if (!ok)
      return Finish(
          grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    auto more = reader_->Next(&frame_);
    if (!more.ok()) return Finish(ToGrpcStatus(more.status()));
    if (!*more) return Finish(grpc::Status::OK);
    StartWrite(&frame_);
  }
  std::unique_ptr<table::FrameReader> reader_;
  v1::Frame frame_;
};

}  // namespace

grpc::ServerWriteReactor<v1::Frame>* StreamFrames(
    absl::StatusOr<std::unique_ptr<table::FrameReader>> reader) {
  return new FrameStreamReactor(std::move(reader));
}

}  // namespace mlpipe::rpc
