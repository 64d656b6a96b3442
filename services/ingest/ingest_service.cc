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

// A push stream: the open message, then messages of rows, each checked and
// queued for the next group commit; acks are written as commits make rows
// durable (coalesced: the latest one while a write is in flight). Reading
// pauses while the stream's window is full, so a slow store slows the
// producer through gRPC's flow control. When the client ends its side, the
// stream ends once what it sent is acknowledged.
class PushReactor final
    : public grpc::ServerBidiReactor<v1::PushRequest, v1::PushResponse> {
 public:
  explicit PushReactor(Pusher* pusher) : pusher_(pusher) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      std::lock_guard lock(mu_);
      reading_done_ = true;
      return MaybeEndLocked();
    }
    absl::Status s = Handle();
    std::lock_guard lock(mu_);
    if (!s.ok()) return FinishLocked(rpc::ToGrpcStatus(s));
    if (finishing_) return;
    if (session_ != nullptr && session_->ShouldWait()) {
      paused_ = true;
      return;
    }
    StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) return FinishLocked(grpc::Status::CANCELLED);
    if (next_ && !finishing_) {
      SendLocked(*next_);
      next_.reset();
      return;
    }
    if (finishing_) return Finish(finish_status_);
    MaybeEndLocked();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    FinishLocked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    if (session_ != nullptr) session_->Close();  // No callback after it.
    delete this;
  }

 private:
  absl::Status Handle() {
    if (session_ == nullptr) {
      if (!request_.has_open()) {
        return absl::InvalidArgumentError(
            "open: the first message of a Push stream must be the open");
      }
      auto session = pusher_->OpenSession(
          request_.open(), {.ack = [this](const PushAck& a) { OnAck(a); },
                            .end =
                                [this](const absl::Status& s) {
                                  std::lock_guard lock(mu_);
                                  FinishLocked(rpc::ToGrpcStatus(s));
                                }});
      if (!session.ok()) return session.status();
      std::lock_guard lock(mu_);
      session_ = std::move(*session);
      if (auto from = session_->resume_after(); from.has_value())
        SendLocked(Response({.acked = *from}));
      return absl::OkStatus();
    }
    if (request_.has_open()) {
      return absl::InvalidArgumentError("open: sent twice");
    }
    bool duplicate = false;
    std::optional<PushAck> now;
    absl::Status s =
        request_.jsonl().empty()
            ? session_->Add(request_.sequence(),
                            std::move(*request_.mutable_frame()), &duplicate,
                            &now)
            : session_->AddJsonLines(request_.sequence(), request_.jsonl(),
                                     &duplicate, &now);
    request_.Clear();
    if (now.has_value()) OnAck(*now);
    return s;
  }

  void OnAck(const PushAck& a) {
    std::lock_guard lock(mu_);
    if (finishing_) return;
    SendLocked(Response(a));
    if (paused_ && session_ != nullptr && !session_->ShouldWait()) {
      paused_ = false;
      StartRead(&request_);
    }
  }

  static v1::PushResponse Response(const PushAck& a) {
    v1::PushResponse r;
    r.set_acked(a.acked);
    r.set_duplicates(a.duplicates);
    r.set_rows(a.rows);
    return r;
  }

  // REQUIRES: mu_ held.
  void SendLocked(const v1::PushResponse& r) {
    if (writing_) {
      next_ = r;  // The latest ack covers the earlier ones.
      return;
    }
    response_ = r;
    writing_ = true;
    StartWrite(&response_);
  }
  // Ends the stream once the client has ended its side and every message
  // it sent is acknowledged. REQUIRES: mu_ held.
  void MaybeEndLocked() {
    if (!reading_done_ || writing_ || next_ || finishing_) return;
    if (session_ != nullptr && session_->Unacked() > 0) return;
    FinishLocked(grpc::Status::OK);
  }
  void FinishLocked(const grpc::Status& s) {
    if (finishing_) return;
    finishing_ = true;
    finish_status_ = s;
    if (!writing_) Finish(s);  // Else once the write is done.
  }

  Pusher* const pusher_;
  v1::PushRequest request_;
  std::unique_ptr<PushSession> session_;
  std::mutex mu_;
  v1::PushResponse response_;             // GUARDED_BY(mu_)
  std::optional<v1::PushResponse> next_;  // GUARDED_BY(mu_)
  bool writing_ = false, paused_ = false, reading_done_ = false,
       finishing_ = false;      // GUARDED_BY(mu_)
  grpc::Status finish_status_;  // GUARDED_BY(mu_)
};

}  // namespace

grpc::ServerBidiReactor<v1::PushRequest, v1::PushResponse>* IngestService::Push(
    grpc::CallbackServerContext*) {
  return new PushReactor(pusher_);
}

grpc::ServerWriteReactor<v1::PushedRows>* IngestService::WatchPushes(
    grpc::CallbackServerContext*, const v1::WatchPushesRequest* request) {
  using Next = rpc::NextMessage<v1::PushedRows>;
  absl::StatusOr<Next> next = Next(
      [p = pusher_, dataset = request->dataset(), after = request->after()](
          v1::PushedRows* out) mutable -> absl::StatusOr<bool> {
        out->Clear();
        // A heartbeat a second without rows: a client gone is noticed.
        if (auto s = p->ReadPushed(dataset, after, std::chrono::seconds(1),
                                   4 << 20, out);
            !s.ok())
          return s;
        after = out->next_after();
        return true;
      });
  if (auto ds = ingestor_->GetDataset(request->dataset()); !ds.ok())
    next = ds.status();
  return new rpc::MessageStreamReactor<v1::PushedRows>(std::move(next));
}

grpc::ServerUnaryReactor* IngestService::FlushPushes(
    grpc::CallbackServerContext* context, const v1::FlushPushesRequest* request,
    v1::FlushPushesResponse* response) {
  // A compaction takes a while: off the gRPC threads.
  return file_calls_.Run(context, [this, request, response] {
    const int64_t before = request->dataset().empty()
                               ? 0
                               : pusher_->PendingRows(request->dataset());
    if (auto s = pusher_->Flush(); !s.ok()) return s;
    if (request->dataset().empty()) return absl::OkStatus();
    auto ds = ingestor_->GetDataset(request->dataset());
    if (!ds.ok()) return ds.status();
    *response->mutable_dataset() = std::move(*ds);
    response->set_rows(std::max<int64_t>(
        0, before - pusher_->PendingRows(request->dataset())));
    return absl::OkStatus();
  });
}

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
  response->set_pushed_rows_pending(pusher_->PendingRows(request->name()));
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
