#include "services/prep/prep_module.h"

#include "common/rpc/channel.h"
#include "common/rpc/frame_stream.h"
#include "common/rpc/status.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "grpcpp/client_context.h"
#include "services/ingest/ingest_client.h"
#include "services/prep/prep_service.h"
#include "services/split/split_client.h"

namespace mlpipe::prep {
namespace {

// The last ingest event the online store has seen.
constexpr char kIngestCursor[] = "cursor/ingest";

// Reads a dataset version from the ingestion service over gRPC.
class IngestReader final : public DatasetReader {
 public:
  static absl::StatusOr<std::unique_ptr<DatasetReader>> Open(
      std::shared_ptr<grpc::Channel> channel, const std::string& dataset,
      int64_t version, const ReadScope& scope) {
    auto resolved = ingest::GetDatasetVersion(channel, dataset, version);
    if (!resolved.ok()) return resolved.status();
    version = resolved->version;
    const v1::GetDatasetResponse& resp = resolved->dataset;
    v1::ReadBatchesRequest read;
    read.set_dataset(dataset);
    read.set_up_to_version(version);
    *read.mutable_columns() = {scope.columns.begin(), scope.columns.end()};
    int64_t rows = resolved->rows;
    if (scope.after_version > 0) {
      int64_t before = 0;
      for (const auto& v : resp.dataset().versions()) {
        if (v.version() > scope.after_version && v.version() <= version) {
          read.add_batch_ids(v.batch_id());
        } else if (v.version() == scope.after_version) {
          before = v.row_count();
        }
      }
      rows -= before;
      // Nothing new: an empty read (ReadBatches reads all without ids).
      if (read.batch_ids().empty()) rows = 0;
    }
    return std::unique_ptr<DatasetReader>(new IngestReader(
        ingest::ReadBatches(channel, std::move(read)), version, rows));
  }

  int64_t version() const override { return version_; }
  int64_t row_count() const override { return rows_; }

  absl::StatusOr<bool> Next(table::Table* chunk) override {
    if (rows_ == 0) return false;
    v1::Frame frame;
    auto more = frames_->Next(&frame);
    if (!more.ok() || !*more) return more;
    auto t = table::TableFromFrame(std::move(frame));
    if (!t.ok()) return t.status();
    *chunk = std::move(*t);
    return true;
  }

 private:
  IngestReader(std::unique_ptr<table::FrameReader> frames, int64_t version,
               int64_t rows)
      : frames_(std::move(frames)), version_(version), rows_(rows) {}
  std::unique_ptr<table::FrameReader> frames_;
  int64_t version_, rows_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PrepModule>> PrepModule::Open(
    const std::string& data_dir, PrepModuleOptions options) {
  std::unique_ptr<PrepModule> m(new PrepModule());
  m->ingest_address_ = std::move(options.ingest_address);
  m->split_address_ = std::move(options.split_address);
  auto store =
      storage::OpenRocksStore(data_dir + "/prep", Preparer::StorageOptions());
  if (!store.ok()) return store.status();
  m->store_ = std::move(*store);
  auto log = events::EventLog::Open(m->store_.get(), "prep");
  if (!log.ok()) return log.status();
  m->log_ = std::move(*log);
  auto online = OnlineStore::Load(m->store_.get());
  if (!online.ok()) return online.status();
  m->online_ = std::move(*online);
  PrepModule* raw = m.get();
  m->preparer_ = std::make_unique<Preparer>(
      std::move(options.preparer), m->store_.get(), m->log_.get(),
      m->online_.get(),
      [raw](const std::string& dataset, int64_t version,
            const ReadScope& scope) {
        return IngestReader::Open(raw->IngestChannel(), dataset, version,
                                  scope);
      },
      [raw](const std::string& split, const std::string& part,
            const std::string& dataset, int64_t version) {
        return raw->SplitPart(split, part, dataset, version);
      });
  m->ops_ = std::make_unique<ops::OperationManager>(
      ops::OperationManagerOptions{.service = "prep"}, m->store_.get());
  m->ops_->Register(
      "prepare",
      [raw](const google::protobuf::Any& any,
            ops::Progress& progress) -> absl::StatusOr<google::protobuf::Any> {
        v1::PrepareRequest req;
        if (!any.UnpackTo(&req))
          return absl::InternalError("stored prepare request is unreadable");
        auto fs = raw->preparer_->Prepare(req, progress);
        if (!fs.ok()) return fs.status();
        google::protobuf::Any out;
        out.PackFrom(*fs);
        return out;
      });
  m->service_ =
      std::make_unique<PrepService>(m->preparer_.get(), m->ops_.get());
  return m;
}

void PrepModule::Stop() {
  if (ingest_events_) ingest_events_->Stop();
  if (ops_) ops_->Stop();
}

PrepModule::~PrepModule() {
  Stop();
  ingest_events_.reset();
  service_.reset();
  ops_.reset();
  preparer_.reset();
  online_.reset();
  log_.reset();
  store_.reset();
}

std::shared_ptr<grpc::Channel> PrepModule::IngestChannel() {
  std::lock_guard lock(mu_);
  return ingest_channel_;
}

std::shared_ptr<grpc::Channel> PrepModule::SplitChannel() {
  std::lock_guard lock(mu_);
  return split_channel_;
}

absl::StatusOr<std::vector<uint8_t>> PrepModule::SplitPart(
    const std::string& split, const std::string& part,
    const std::string& dataset, int64_t version) {
  auto got = split::GetSplit(SplitChannel(), split);
  if (!got.ok()) return got.status();
  const v1::Split& s = *got;
  if (s.dataset() != dataset || s.version() != version) {
    return absl::FailedPreconditionError(
        StrCat("fit_on.split: split ", split, " is of ", s.dataset(), "@v",
               s.version(), ", not ", dataset, "@v", version));
  }
  int index = -1;
  for (int i = 0; i < s.parts_size(); ++i)
    if (s.parts(i).name() == part) index = i;
  if (index < 0) {
    return absl::NotFoundError(
        StrCat("fit_on.part: split ", split, " has no part '", part, "'"));
  }
  auto chunks = split::ReadAssignments(SplitChannel(), split);
  if (!chunks.ok()) return chunks.status();
  std::vector<uint8_t> rows;
  rows.reserve(s.num_rows());
  for (const auto& chunk : *chunks) {
    for (char p : chunk.parts())
      rows.push_back(static_cast<uint8_t>(p) == index);
  }
  return rows;
}

absl::Status PrepModule::Start(std::shared_ptr<grpc::Channel> self) {
  {
    std::lock_guard lock(mu_);
    split_channel_ =
        split_address_.empty() ? self : rpc::NewChannel(split_address_);
    ingest_channel_ = ingest_address_.empty()
                          ? std::move(self)
                          : rpc::NewChannel(ingest_address_);
  }
  if (auto s = ops_->Resume(); !s.ok()) return s;
  ingest_events_ =
      std::make_unique<events::Subscriber>(events::SubscriberOptions{
          .source = "ingest",
          .channel = [this] { return IngestChannel(); },
          .cursor = [this]() -> uint64_t {
            auto raw = store_->Get(kOnline, kIngestCursor);
            return raw.ok() ? std::stoull(*raw) : 0;
          },
          .handle = [this](const v1::Event& e) -> absl::Status {
            if (e.topic() == "dataset.ingested") {
              const auto& a = e.attributes();
              auto d = a.find("dataset"), v = a.find("version");
              if (d != a.end() && v != a.end()) {
                if (auto s = preparer_->RefreshOnline(d->second,
                                                      std::stoll(v->second));
                    !s.ok() && !absl::IsNotFound(s))
                  return s;
              }
            }
            return store_->Put(kOnline, kIngestCursor,
                               std::to_string(e.sequence()));
          },
      });
  return absl::OkStatus();
}

}  // namespace mlpipe::prep
