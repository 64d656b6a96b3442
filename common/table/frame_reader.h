// A source of frames (a dataset's rows, a feature set's rows), read one frame
// at a time; rpc::StreamFrames serves one as a server stream.
#ifndef MLPIPE_COMMON_TABLE_FRAME_READER_H_
#define MLPIPE_COMMON_TABLE_FRAME_READER_H_

#include "absl/status/statusor.h"
#include "mlpipe/v1/frame.pb.h"

namespace mlpipe::table {

// Not thread-safe.
class FrameReader {
 public:
  virtual ~FrameReader() = default;
  // The next frame; false at the end.
  virtual absl::StatusOr<bool> Next(v1::Frame* frame) = 0;
};

}  // namespace mlpipe::table

#endif  // MLPIPE_COMMON_TABLE_FRAME_READER_H_
