// Streams one part of a split over gRPC (ReadSplit with labels) and writes
// its features as raw float64 (row-major, <OUT>.x), its label as float64
// 1/0 (<OUT>.y, 1 for POSITIVE) and prints {"rows": R, "cols": C}. So the
// Python peer of bench/train trains on exactly the rows and features the
// platform trains on.
//
// Usage: export_part SERVER SPLIT FEATURE_SET PART LABEL POSITIVE OUT
#include <cstdio>
#include <string>

#include "common/rpc/channel.h"
#include "common/table/frame_codec.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/split_service.grpc.pb.h"

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: export_part SERVER SPLIT FEATURE_SET PART LABEL "
                 "POSITIVE OUT\n");
    return 2;
  }
  const std::string label = argv[5], positive = argv[6], out = argv[7];
  auto stub = mlpipe::v1::Splits::NewStub(mlpipe::rpc::NewChannel(argv[1]));
  mlpipe::v1::ReadSplitRequest req;
  req.set_split(argv[2]);
  req.set_feature_set(argv[3]);
  req.set_part(argv[4]);
  req.set_with_labels(true);
  grpc::ClientContext ctx;
  auto reader = stub->ReadSplit(&ctx, req);
  std::FILE* fx = std::fopen((out + ".x").c_str(), "wb");
  std::FILE* fy = std::fopen((out + ".y").c_str(), "wb");
  if (fx == nullptr || fy == nullptr) {
    std::fprintf(stderr, "cannot write %s.x / .y\n", out.c_str());
    return 1;
  }
  mlpipe::v1::Frame frame;
  long long rows = 0, cols = 0;
  std::vector<double> row;
  while (reader->Read(&frame)) {
    auto t = mlpipe::table::TableFromFrame(std::move(frame));
    if (!t.ok()) {
      std::fprintf(stderr, "bad frame: %s\n",
                   std::string(t.status().message()).c_str());
      return 1;
    }
    int li = t->Find(label);
    if (li < 0) {
      std::fprintf(stderr, "no label column %s\n", label.c_str());
      return 1;
    }
    cols = static_cast<long long>(t->columns.size()) - 1;
    for (size_t r = 0; r < t->num_rows; ++r) {
      row.clear();
      for (int c = 0; c < static_cast<int>(t->columns.size()); ++c) {
        if (c == li) continue;
        const auto& col = t->columns[c];
        row.push_back(col.IsValid(r) ? col.numbers[r] : NAN);
      }
      std::fwrite(row.data(), sizeof(double), row.size(), fx);
      const auto& l = t->columns[li];
      double y = l.strings.empty()
                     ? (l.numbers[r] == std::stod(positive) ? 1.0 : 0.0)
                     : (l.strings[r] == positive ? 1.0 : 0.0);
      std::fwrite(&y, sizeof(double), 1, fy);
      ++rows;
    }
  }
  grpc::Status s = reader->Finish();
  std::fclose(fx);
  std::fclose(fy);
  if (!s.ok()) {
    std::fprintf(stderr, "ReadSplit: %s\n", s.error_message().c_str());
    return 1;
  }
  std::printf("{\"rows\": %lld, \"cols\": %lld}\n", rows, cols);
  return 0;
}
