// mlpipe.v1.Ingestion over gRPC: a thin adapter over Ingestor.
#ifndef MLPIPE_SERVICES_INGEST_INGEST_SERVICE_H_
#define MLPIPE_SERVICES_INGEST_INGEST_SERVICE_H_

#include "common/rpc/off_thread.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"
#include "services/ingest/ingestor.h"
#include "services/ingest/pusher.h"

namespace mlpipe::ingest {

class IngestService final : public v1::Ingestion::CallbackService {
 public:
  // `ingestor` and `pusher` are not owned and must outlive the service.
  IngestService(Ingestor* ingestor, Pusher* pusher)
      : ingestor_(ingestor), pusher_(pusher) {}

  grpc::ServerReadReactor<v1::IngestRequest>* Ingest(
      grpc::CallbackServerContext* context,
      v1::IngestResponse* response) override;
  grpc::ServerUnaryReactor* IngestFile(grpc::CallbackServerContext* context,
                                       const v1::IngestFileRequest* request,
                                       v1::IngestResponse* response) override;
  grpc::ServerWriteReactor<v1::Frame>* ReadBatches(
      grpc::CallbackServerContext* context,
      const v1::ReadBatchesRequest* request) override;
  grpc::ServerUnaryReactor* ListDatasets(
      grpc::CallbackServerContext* context,
      const v1::ListDatasetsRequest* request,
      v1::ListDatasetsResponse* response) override;
  grpc::ServerUnaryReactor* GetDataset(
      grpc::CallbackServerContext* context,
      const v1::GetDatasetRequest* request,
      v1::GetDatasetResponse* response) override;
  grpc::ServerUnaryReactor* GetBatch(grpc::CallbackServerContext* context,
                                     const v1::GetBatchRequest* request,
                                     v1::Batch* response) override;
  grpc::ServerUnaryReactor* DeleteDataset(
      grpc::CallbackServerContext* context,
      const v1::DeleteDatasetRequest* request,
      v1::DeleteDatasetResponse* response) override;
  grpc::ServerUnaryReactor* RevertDataset(
      grpc::CallbackServerContext* context,
      const v1::RevertDatasetRequest* request, v1::Dataset* response) override;
  grpc::ServerUnaryReactor* DeleteBatch(grpc::CallbackServerContext* context,
                                        const v1::DeleteBatchRequest* request,
                                        v1::Dataset* response) override;
  grpc::ServerBidiReactor<v1::PushRequest, v1::PushResponse>* Push(
      grpc::CallbackServerContext* context) override;
  grpc::ServerWriteReactor<v1::PushedRows>* WatchPushes(
      grpc::CallbackServerContext* context,
      const v1::WatchPushesRequest* request) override;
  grpc::ServerUnaryReactor* FlushPushes(
      grpc::CallbackServerContext* context,
      const v1::FlushPushesRequest* request,
      v1::FlushPushesResponse* response) override;

 private:
  Ingestor* const ingestor_;
  Pusher* const pusher_;
  rpc::OffThreadCalls file_calls_;  // Last member: waits for its calls first.
};

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_INGEST_SERVICE_H_
