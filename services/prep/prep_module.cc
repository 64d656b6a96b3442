#include "services/prep/prep_module.h"

#include "common/rpc/channel.h"
#include "common/rpc/status.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"
#include "services/prep/prep_service.h"

namespace mlpipe::prep {
namespace {

// Reads a dataset version from the ingestion service over gRPC.
class IngestReader final : public DatasetReader {
 public:
  static absl::StatusOr<std::unique_ptr<DatasetReader>> Open(
      std::shared_ptr<grpc::Channel> channel, const std::string& dataset,
      int64_t version) {
    auto stub = v1::Ingestion::NewStub(channel);
    grpc::ClientContext call;
    v1::GetDatasetRequest req;
    req.set_name(dataset);
    v1::GetDatasetResponse resp;
    if (auto s = stub->GetDataset(&call, req, &resp); !s.ok())
      return rpc::FromGrpcStatus(s);
    int64_t latest = resp.dataset().versions_size();
    if (version < 0 || version > latest) {
      return absl::NotFoundError(StrCat("dataset '", dataset,
                                        "' has no version ", version,
                                        " (latest is ", latest, ")"));
    }
    return std::unique_ptr<DatasetReader>(new IngestReader(
        std::move(stub), dataset, version == 0 ? latest : version));
  }

  int64_t version() const override { return version_; }

  absl::StatusOr<bool> Next(table::Table* chunk) override {
    if (!stream_) {
      v1::ReadBatchesRequest req;
      req.set_dataset(dataset_);
      req.set_up_to_version(version_);
      stream_ = stub_->ReadBatches(&call_, req);
    }
    v1::Frame frame;
    if (!stream_->Read(&frame)) {
      if (auto s = stream_->Finish(); !s.ok()) return rpc::FromGrpcStatus(s);
      return false;
    }
    auto t = table::TableFromFrame(std::move(frame));
    if (!t.ok()) return t.status();
    *chunk = std::move(*t);
    return true;
  }

 private:
  IngestReader(std::unique_ptr<v1::Ingestion::Stub> stub, std::string dataset,
               int64_t version)
      : stub_(std::move(stub)),
        dataset_(std::move(dataset)),
        version_(version) {}
  std::unique_ptr<v1::Ingestion::Stub> stub_;
  std::string dataset_;
  int64_t version_;
  grpc::ClientContext call_;
  std::unique_ptr<grpc::ClientReader<v1::Frame>> stream_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PrepModule>> PrepModule::Open(
    const std::string& data_dir, std::string ingest_address) {
  std::unique_ptr<PrepModule> m(new PrepModule());
  m->ingest_address_ = std::move(ingest_address);
  auto store =
      storage::OpenRocksStore(data_dir + "/prep", Preparer::StorageOptions());
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "prep");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  PrepModule* raw = m.get();
  m->preparer_ = std::make_unique<Preparer>(
      PreparerOptions{}, m->store_.get(), m->log_.get(),
      [raw](const std::string& dataset, int64_t version) {
        return IngestReader::Open(raw->IngestChannel(), dataset, version);
      });
  m->service_ = std::make_unique<PrepService>(m->preparer_.get());
  return m;
}

PrepModule::~PrepModule() {
  service_.reset();
  preparer_.reset();
  log_.reset();
  store_.reset();
}

std::shared_ptr<grpc::Channel> PrepModule::IngestChannel() {
  std::lock_guard lock(mu_);
  return ingest_channel_;
}

absl::Status PrepModule::Start(std::shared_ptr<grpc::Channel> self) {
  std::lock_guard lock(mu_);
  ingest_channel_ = ingest_address_.empty() ? std::move(self)
                                            : rpc::NewChannel(ingest_address_);
  return absl::OkStatus();
}

}  // namespace mlpipe::prep
