// Serves a FrameReader as a server stream: the next frame is read only when
// the previous one has been written (flow control), and an error ends the
// stream with its status.
#ifndef MLPIPE_COMMON_RPC_FRAME_STREAM_H_
#define MLPIPE_COMMON_RPC_FRAME_STREAM_H_

#include <memory>

#include "absl/status/statusor.h"
#include "common/table/frame_reader.h"
#include "grpcpp/support/server_callback.h"

namespace mlpipe::rpc {

grpc::ServerWriteReactor<v1::Frame>* StreamFrames(
    absl::StatusOr<std::unique_ptr<table::FrameReader>> reader);

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_FRAME_STREAM_H_
