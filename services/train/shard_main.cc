// mlpipe-train-shard: one shard of a distributed trial, run by a train
// replica as a child process (services/train/shard.h): reads a
// v1::TrainShardRequest (length-delimited) on stdin, its rows from
// --split_address and --prep_address, joins the collective, and writes
// v1::ShardReport messages (length-delimited) on stdout, a failure last.
// Not for people: the replica gives it its flags.
#include <unistd.h>

#include <cstdio>

#include "clients/peer_reads.h"
#include "common/rpc/peers.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/util/delimited_message_util.h"
#include "services/host/flags.h"
#include "services/train/shard.h"

namespace mlpipe::train {
namespace {

constexpr int kMaxRequestBytes = 64 << 20;
constexpr int kDefaultCheckpointEvery = 10;
constexpr int64_t kFrameRows = 65536;

absl::StatusOr<v1::TrainShardRequest> ReadRequest() {
  google::protobuf::io::FileInputStream in(STDIN_FILENO);
  google::protobuf::io::CodedInputStream coded(&in);
  coded.SetTotalBytesLimit(kMaxRequestBytes);
  v1::TrainShardRequest request;
  bool eof = false;
  if (!google::protobuf::util::ParseDelimitedFromCodedStream(&request, &coded,
                                                             &eof)) {
    return absl::InvalidArgumentError(
        "stdin: no TrainShardRequest (length-delimited, at most 64 MiB)");
  }
  return request;
}

int Run() {
  google::protobuf::io::FileOutputStream out(STDOUT_FILENO);
  auto report = [&out](const v1::ShardReport& r) -> absl::Status {
    if (!google::protobuf::util::SerializeDelimitedToZeroCopyStream(r, &out) ||
        !out.Flush())
      return absl::CancelledError("the replica went away");
    return absl::OkStatus();
  };
  absl::Status s;
  auto request = ReadRequest();
  rpc::Peers peers(host::PeerAddressesFromFlags());
  if (!request.ok()) {
    s = request.status();
  } else if (peers.IsLocal("split") || peers.IsLocal("prep")) {
    s = absl::InvalidArgumentError("--split_address, --prep_address: required");
  } else {
    clients::PeerReads<TrainSources> sources(peers);
    s = RunShard(sources, *request, kFrameRows, kDefaultCheckpointEvery,
                 report);
  }
  if (s.ok()) return 0;
  v1::ShardReport failure;
  failure.mutable_failure()->set_code(static_cast<int>(s.code()));
  failure.mutable_failure()->set_message(std::string(s.message()));
  (void)report(failure);
  return 1;
}

}  // namespace
}  // namespace mlpipe::train

int main(int argc, char** argv) {
  mlpipe::host::InitClientProcess(
      argc, argv,
      "mlpipe-train-shard: one shard of a distributed trial, run by a train "
      "replica (not by hand).");
  return mlpipe::train::Run();
}
