// Streams one part of a split over gRPC (ReadSplit, with labels) and prints
// JSON: rows, columns, seconds, rows/s, MB/s of the wire frames.
//
// Usage: split_bench SERVER SPLIT PART
#include <chrono>
#include <cstdio>
#include <string>

#include "common/rpc/channel.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/split_service.grpc.pb.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: split_bench SERVER SPLIT PART\n");
    return 2;
  }
  auto stub = mlpipe::v1::Splits::NewStub(mlpipe::rpc::NewChannel(argv[1]));
  mlpipe::v1::ReadSplitRequest req;
  req.set_split(argv[2]);
  req.set_part(argv[3]);
  req.set_with_labels(true);
  auto t0 = std::chrono::steady_clock::now();
  grpc::ClientContext ctx;
  auto reader = stub->ReadSplit(&ctx, req);
  mlpipe::v1::Frame frame;
  int64_t rows = 0, bytes = 0, columns = 0;
  while (reader->Read(&frame)) {
    rows += frame.num_rows();
    bytes += static_cast<int64_t>(frame.ByteSizeLong());
    columns = frame.columns_size();
  }
  grpc::Status s = reader->Finish();
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  if (!s.ok()) {
    std::fprintf(stderr, "ReadSplit: %s\n", s.error_message().c_str());
    return 1;
  }
  std::printf(
      "{\"rows\": %lld, \"columns\": %lld, \"seconds\": %.4f, "
      "\"rows_per_s\": %.0f, \"mb_per_s\": %.1f}\n",
      static_cast<long long>(rows), static_cast<long long>(columns), secs,
      rows / secs, bytes / secs / 1e6);
  return 0;
}
