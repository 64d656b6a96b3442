#include "clients/ingest_client.h"

#include "clients/dataset_versions.h"
#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"
#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"

namespace mlpipe::ingest {

absl::StatusOr<DatasetVersion> GetDatasetVersion(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& dataset,
    int64_t version) {
  auto stub = v1::Ingestion::NewStub(channel);
  grpc::ClientContext call;
  call.set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
  v1::GetDatasetRequest req;
  req.set_name(dataset);
  DatasetVersion out;
  if (auto s = stub->GetDataset(&call, req, &out.dataset); !s.ok())
    return rpc::FromGrpcStatus(s);
  int64_t latest = out.dataset.dataset().versions_size();
  if (version < 0 || version > latest) {
    return absl::NotFoundError(StrCat("dataset '", dataset, "' has no version ",
                                      version, " (latest is ", latest, ")"));
  }
  out.version = version == 0 ? latest : version;
  if (const auto* v = FindVersion(out.dataset.dataset(), out.version))
    out.rows = v->row_count();
  return out;
}

std::unique_ptr<table::FrameReader> ReadBatches(
    const std::shared_ptr<grpc::Channel>& channel,
    v1::ReadBatchesRequest request) {
  std::shared_ptr<v1::Ingestion::Stub> stub = v1::Ingestion::NewStub(channel);
  return rpc::ReadFrameStream(
      [stub, req = std::move(request)](grpc::ClientContext* call) {
        return stub->ReadBatches(call, req);
      },
      stub);
}

std::unique_ptr<table::FrameReader> ReadVersion(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& dataset,
    int64_t version, const std::vector<std::string>& columns) {
  v1::ReadBatchesRequest req;
  req.set_dataset(dataset);
  req.set_up_to_version(version);
  *req.mutable_columns() = {columns.begin(), columns.end()};
  return ReadBatches(channel, std::move(req));
}

namespace {

// Adds the values of `c` (of `rows` rows) to `out`; false past `limit`.
bool AddValues(const v1::Column& c, size_t rows, size_t limit,
               std::set<std::string>* out) {
  if (c.dictionary_size() > 0 || c.strings_size() > 0) {
    for (size_t i = 0; i < rows; ++i) {
      if (!table::ValidAt(c, i)) continue;
      const int at = static_cast<int>(i);
      if (c.dictionary_size() > 0 && at < c.codes_size() &&
          static_cast<int>(c.codes(at)) < c.dictionary_size()) {
        out->insert(c.dictionary(static_cast<int>(c.codes(at))));
      } else if (at < c.strings_size()) {
        out->insert(c.strings(at));
      }
      if (out->size() > limit) return false;
    }
  } else if (c.type() == v1::NUMERIC) {
    const size_t n = std::min(rows, table::NumberCount(c, rows));
    for (size_t i = 0; i < n; ++i) {
      if (!table::ValidAt(c, i)) continue;
      std::string text;
      table::AppendNumber(table::NumberAt(c, i), &text);
      out->insert(std::move(text));
      if (out->size() > limit) return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<std::optional<std::set<std::string>>> DistinctValues(
    const std::shared_ptr<grpc::Channel>& channel, const std::string& dataset,
    const std::string& column, size_t limit) {
  auto reader = ReadVersion(channel, dataset, 0, {column});
  std::set<std::string> values;
  v1::Frame frame;
  while (true) {
    auto more = reader->Next(&frame);
    if (!more.ok()) return more.status();
    if (!*more) return values;
    for (const auto& c : frame.columns()) {
      if (c.name() != column) continue;
      if (!AddValues(c, static_cast<size_t>(frame.num_rows()), limit, &values))
        return std::nullopt;
    }
  }
}

}  // namespace mlpipe::ingest
