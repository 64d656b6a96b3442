#include "services/ingest/ingest_service.h"

#include <thread>

#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"

namespace mlpipe::ingest {
namespace {

// Reads the header, then feeds chunks or frames into an Upload; commits when
// the client closes its side.
class IngestReactor final : public grpc::ServerReadReactor<v1::IngestRequest> {
 public:
  IngestReactor(Ingestor* ingestor, v1::IngestResponse* response)
      : ingestor_(ingestor), response_(response) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Complete();
    absl::Status s = Handle();
    if (!s.ok()) {
      upload_.reset();  // Aborts: nothing of it stays stored.
      return Finish(rpc::ToGrpcStatus(s));
    }
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  absl::Status Handle() {
    switch (request_.payload_case()) {
      case v1::IngestRequest::kHeader: {
        if (upload_) {
          return absl::InvalidArgumentError("header: sent twice");
        }
        auto upload = ingestor_->BeginUpload(request_.header());
        if (!upload.ok()) return upload.status();
        upload_ = std::move(*upload);
        return absl::OkStatus();
      }
      case v1::IngestRequest::kChunk:
        if (!upload_) return NoHeader();
        return upload_->AddChunk(request_.chunk());
      case v1::IngestRequest::kFrame:
        if (!upload_) return NoHeader();
        return upload_->AddFrame(std::move(*request_.mutable_frame()));
      case v1::IngestRequest::PAYLOAD_NOT_SET:
        return absl::InvalidArgumentError("payload: empty message");
    }
    return absl::InvalidArgumentError("payload: unknown kind");
  }

  static absl::Status NoHeader() {
    return absl::InvalidArgumentError(
        "header: the first message of an Ingest stream must be the header");
  }

  void Complete() {
    if (!upload_) return Finish(rpc::ToGrpcStatus(NoHeader()));
    auto result = upload_->Finish();
    upload_.reset();
    if (result.ok()) *response_ = std::move(*result);
    Finish(rpc::ToGrpcStatus(result.status()));
  }

  Ingestor* const ingestor_;
  v1::IngestResponse* const response_;
  v1::IngestRequest request_;
  std::unique_ptr<Upload> upload_;
};

}  // namespace

grpc::ServerReadReactor<v1::IngestRequest>* IngestService::Ingest(
    grpc::CallbackServerContext* context, v1::IngestResponse* response) {
  return new IngestReactor(ingestor_, response);
}

grpc::ServerUnaryReactor* IngestService::IngestFile(
    grpc::CallbackServerContext* context, const v1::IngestFileRequest* request,
    v1::IngestResponse* response) {
  // Reading a large file takes a while: off the gRPC threads.
  return file_calls_.Run(context, [this, request, response] {
    auto result = ingestor_->IngestFile(*request);
    if (result.ok()) *response = std::move(*result);
    return result.status();
  });
}

grpc::ServerWriteReactor<v1::Frame>* IngestService::ReadBatches(
    grpc::CallbackServerContext* context,
    const v1::ReadBatchesRequest* request) {
  return rpc::StreamFrames(
      [i = ingestor_, req = *request] { return i->Read(req); });
}

grpc::ServerUnaryReactor* IngestService::ListDatasets(
    grpc::CallbackServerContext* context, const v1::ListDatasetsRequest*,
    v1::ListDatasetsResponse* response) {
  auto all = ingestor_->ListDatasets();
  if (all.ok()) {
    for (auto& d : *all) *response->add_datasets() = std::move(d);
  }
  return rpc::FinishUnary(context, all.status());
}

grpc::ServerUnaryReactor* IngestService::GetDataset(
    grpc::CallbackServerContext* context, const v1::GetDatasetRequest* request,
    v1::GetDatasetResponse* response) {
  auto ds = ingestor_->GetDataset(request->name());
  if (!ds.ok()) return rpc::FinishUnary(context, ds.status());
  auto batches = ingestor_->ListBatches(*ds);
  if (!batches.ok()) return rpc::FinishUnary(context, batches.status());
  *response->mutable_dataset() = std::move(*ds);
  for (auto& b : *batches) *response->add_batches() = std::move(b);
  return rpc::FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* IngestService::GetBatch(
    grpc::CallbackServerContext* context, const v1::GetBatchRequest* request,
    v1::Batch* response) {
  auto b = ingestor_->GetBatch(request->id());
  if (b.ok()) *response = std::move(*b);
  return rpc::FinishUnary(context, b.status());
}

grpc::ServerUnaryReactor* IngestService::DeleteDataset(
    grpc::CallbackServerContext* context,
    const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  auto n = ingestor_->DeleteDataset(request->name());
  if (n.ok()) response->set_batches_deleted(*n);
  return rpc::FinishUnary(context, n.status());
}

grpc::ServerUnaryReactor* IngestService::RevertDataset(
    grpc::CallbackServerContext* context,
    const v1::RevertDatasetRequest* request, v1::Dataset* response) {
  auto ds = ingestor_->RevertDataset(request->name(), request->version());
  if (ds.ok()) *response = std::move(*ds);
  return rpc::FinishUnary(context, ds.status());
}

grpc::ServerUnaryReactor* IngestService::DeleteBatch(
    grpc::CallbackServerContext* context, const v1::DeleteBatchRequest* request,
    v1::Dataset* response) {
  auto ds = ingestor_->DeleteBatch(request->dataset(), request->batch_id());
  if (ds.ok()) *response = std::move(*ds);
  return rpc::FinishUnary(context, ds.status());
}

}  // namespace mlpipe::ingest
