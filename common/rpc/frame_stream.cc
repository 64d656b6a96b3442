#include "common/rpc/frame_stream.h"

namespace mlpipe::rpc {
namespace {

class ClientFrameReader final : public table::FrameReader {
 public:
  ClientFrameReader(OpenFrameStream open, std::shared_ptr<void> keep)
      : open_(std::move(open)), keep_(std::move(keep)) {}
  ~ClientFrameReader() override {
    if (stream_ && !finished_) {
      call_.TryCancel();
      stream_->Finish();
    }
  }

  absl::StatusOr<bool> Next(v1::Frame* frame) override {
    if (finished_) return false;
    if (!stream_) stream_ = open_(&call_);
    if (stream_->Read(frame)) return true;
    finished_ = true;
    if (auto s = stream_->Finish(); !s.ok()) return FromGrpcStatus(s);
    return false;
  }

 private:
  OpenFrameStream open_;
  std::shared_ptr<void> keep_;
  grpc::ClientContext call_;
  std::unique_ptr<grpc::ClientReader<v1::Frame>> stream_;
  bool finished_ = false;
};

}  // namespace

grpc::ServerWriteReactor<v1::Frame>* StreamFrames(OpenFrames open) {
  return StreamMessages<v1::Frame>(NextMessage<v1::Frame>(
      [open = std::move(open), reader = std::shared_ptr<table::FrameReader>()](
          v1::Frame* f) mutable -> absl::StatusOr<bool> {
        if (!reader) {
          auto opened = open();
          if (!opened.ok()) return opened.status();
          reader = std::move(*opened);
        }
        return reader->Next(f);
      }));
}

std::unique_ptr<table::FrameReader> ReadFrameStream(
    OpenFrameStream open, std::shared_ptr<void> keep) {
  return std::make_unique<ClientFrameReader>(std::move(open), std::move(keep));
}

}  // namespace mlpipe::rpc
