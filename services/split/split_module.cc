#include "services/split/split_module.h"

#include "common/rpc/channel.h"
#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"
#include "common/util/strings.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"
#include "services/ingest/ingest_client.h"
#include "services/prep/prep_client.h"
#include "services/split/split_service.h"

namespace mlpipe::split {

// SplitData over gRPC: feature sets from prep, dataset versions from ingest.
class SplitModule::GrpcData final : public SplitData {
 public:
  void Connect(std::shared_ptr<grpc::Channel> ingest,
               std::shared_ptr<grpc::Channel> prep) {
    std::lock_guard lock(mu_);
    ingest_ = std::move(ingest);
    prep_ = std::move(prep);
  }

  absl::StatusOr<v1::FeatureSet> GetFeatureSet(const std::string& id) override {
    return prep::GetFeatureSet(Prep(), id);
  }

  absl::StatusOr<Version> GetDatasetVersion(const std::string& dataset,
                                            int64_t version) override {
    auto v = ingest::GetDatasetVersion(Ingest(), dataset, version);
    if (!v.ok()) return v.status();
    Version out{.version = v->version, .rows = v->rows};
    for (const auto& c : v->dataset.dataset().schema().fields())
      out.columns.push_back(c.name());
    return out;
  }

  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& request) override {
    return prep::ReadFeatures(Prep(), request);
  }

  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns) override {
    std::shared_ptr<v1::Ingestion::Stub> stub =
        v1::Ingestion::NewStub(Ingest());
    v1::ReadBatchesRequest req;
    req.set_dataset(dataset);
    req.set_up_to_version(version);
    *req.mutable_columns() = {columns.begin(), columns.end()};
    return rpc::ReadFrameStream(
        [stub, req](grpc::ClientContext* call) {
          return stub->ReadBatches(call, req);
        },
        stub);
  }

 private:
  std::shared_ptr<grpc::Channel> Ingest() {
    std::lock_guard lock(mu_);
    return ingest_;
  }
  std::shared_ptr<grpc::Channel> Prep() {
    std::lock_guard lock(mu_);
    return prep_;
  }
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> ingest_, prep_;  // GUARDED_BY(mu_)
};

absl::StatusOr<std::unique_ptr<SplitModule>> SplitModule::Open(
    const std::string& data_dir, SplitModuleOptions options) {
  std::unique_ptr<SplitModule> m(new SplitModule());
  m->options_ = std::move(options);
  auto store =
      storage::OpenRocksStore(data_dir + "/split", Splitter::StorageOptions());
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "split");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  m->data_ = std::make_unique<GrpcData>();
  m->splitter_ = std::make_unique<Splitter>(
      m->options_.splitter, m->store_.get(), m->log_.get(), m->data_.get());
  m->ops_ = std::make_unique<ops::OperationManager>(
      ops::OperationManagerOptions{.service = "split"}, m->store_.get());
  Splitter* splitter = m->splitter_.get();
  m->ops_->Register(
      "split",
      [splitter](const google::protobuf::Any& any, ops::Progress& progress)
          -> absl::StatusOr<google::protobuf::Any> {
        v1::SplitSpec spec;
        if (!any.UnpackTo(&spec))
          return absl::InternalError("stored split request is unreadable");
        auto split = splitter->Create(spec, progress);
        if (!split.ok()) return split.status();
        google::protobuf::Any out;
        out.PackFrom(*split);
        return out;
      });
  m->service_ = std::make_unique<SplitService>(splitter, m->ops_.get());
  return m;
}

void SplitModule::Stop() {
  if (ops_) ops_->Stop();
}

SplitModule::~SplitModule() {
  Stop();
  service_.reset();
  ops_.reset();
  splitter_.reset();
  data_.reset();
  log_.reset();
  store_.reset();
}

absl::Status SplitModule::Start(std::shared_ptr<grpc::Channel> self) {
  data_->Connect(options_.ingest_address.empty()
                     ? self
                     : rpc::NewChannel(options_.ingest_address),
                 options_.prep_address.empty()
                     ? self
                     : rpc::NewChannel(options_.prep_address));
  return ops_->Resume();
}

}  // namespace mlpipe::split
