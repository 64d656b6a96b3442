#include "services/prep/prep_module.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "clients/dataset_versions.h"
#include "clients/ingest_client.h"
#include "clients/split_client.h"
#include "common/table/frame_codec.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/modules.h"
#include "services/prep/prep_service.h"

ABSL_FLAG(bool, online_push_history, false,
          "Also write rows pushed to a dataset (Ingestion/Push) to its online "
          "views' history, for point-in-time lookups (--as-of), when they are "
          "compacted into a version: every pushed row, where the latest "
          "values take only the one that wins its key (about a core per "
          "500,000 rows/s). Without it, --as-of sees a pushed row while it is "
          "a key's latest value, and the dataset's versions keep every one.");

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
    const auto* from = ingest::FindVersion(resp.dataset(), scope.after_version);
    const auto* to = ingest::FindVersion(resp.dataset(), version);
    if (scope.after_version > 0 && from != nullptr && to != nullptr) {
      // Only what appends added since; every row after a replace or revert.
      if (auto added = ingest::AddedBatches(resp.dataset(), *from, *to)) {
        rows = 0;
        for (const auto& id : *added) read.add_batch_ids(id);
        for (const auto& b : resp.batches()) {
          if (std::find(added->begin(), added->end(), b.id()) != added->end())
            rows += b.row_count();
        }
        // Nothing new: an empty read (ReadBatches reads all without ids).
        if (read.batch_ids().empty()) rows = 0;
      }
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

// The rows of a split's part (Preparer's SplitPartRows), from the split
// service.
absl::StatusOr<std::vector<uint8_t>> SplitPart(const rpc::Peers& peers,
                                               const std::string& split,
                                               const std::string& part,
                                               const std::string& dataset,
                                               int64_t version) {
  auto got = split::GetSplit(peers.Channel("split"), split);
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
  auto chunks = split::ReadAssignments(peers.Channel("split"), split);
  if (!chunks.ok()) return chunks.status();
  std::vector<uint8_t> rows;
  rows.reserve(s.num_rows());
  for (const auto& chunk : *chunks) {
    for (char p : chunk.parts())
      rows.push_back(static_cast<uint8_t>(p) == index);
  }
  return rows;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PrepModule>> PrepModule::Open(
    const host::ModuleEnv& env, PrepModuleOptions options) {
  std::unique_ptr<PrepModule> m(new PrepModule(env));
  if (auto s = m->OpenStore(Preparer::StorageOptions()); !s.ok()) return s;
  auto redis = redis::OpenOnlineStore(options.online_store,
                                      "prep copies the latest values there");
  if (!redis.ok()) return redis.status();
  redis::OnlineRedis* mirror = m->Own(*std::move(redis));
  auto online = OnlineStore::Load(m->store(), mirror);
  if (!online.ok()) return online.status();
  OnlineStore* store = m->Own(std::move(*online));
  m->online_ = store;
  if (mirror != nullptr) {
    PrepModule* raw = m.get();
    m->AddLoop([raw, every = options.mirror_sync](util::BackgroundLoop& loop) {
      raw->MirrorLoop(loop, every);
    });
  }
  const rpc::Peers* peers = &m->peers();
  m->preparer_ = m->Make<Preparer>(
      std::move(options.preparer), m->store(), m->outbox(), store,
      [peers](const std::string& dataset, int64_t version,
              const ReadScope& scope) {
        return IngestReader::Open(peers->Channel("ingest"), dataset, version,
                                  scope);
      },
      [peers](const std::string& split, const std::string& part,
              const std::string& dataset, int64_t version) {
        return SplitPart(*peers, split, part, dataset, version);
      });
  Preparer* preparer = m->preparer_;
  // Rows pushed to a dataset with online views reach them as they commit
  // (a new view is followed within 100 ms).
  m->follower_ = m->Make<PushFollower>(
      preparer, store, [peers] { return peers->Channel("ingest"); });
  m->AddLoop([f = m->follower_](util::BackgroundLoop& loop) {
    do {
      f->Sync();
    } while (loop.Wait(std::chrono::milliseconds(100)));
  });
  m->RegisterOperation<v1::PrepareRequest, v1::FeatureSet>(
      "prepare",
      [preparer](const v1::PrepareRequest& request, ops::Progress& progress) {
        return preparer->Prepare(request, progress);
      });
  m->AddService(std::make_unique<PrepService>(preparer, m->ops()),
                v1::Prep::service_full_name());
  return m;
}

PrepModule::~PrepModule() { Stop(); }

void PrepModule::OnStop() {
  if (ingest_events_) ingest_events_->Stop();
  if (follower_ != nullptr) follower_->Stop();
}

absl::Status PrepModule::OnStart() {
  if (auto s = preparer_->LinkFeatureSets(); !s.ok()) return s;
  // Best effort: the ingest service may not answer yet; the next ingest
  // event of each dataset retries.
  if (auto s = preparer_->BackfillRawValues(); !s.ok()) {
    LogWarning(
        "online views made before raw values were kept: not "
        "backfilled yet (the next ingest of their dataset retries)",
        {{"error", std::string(s.message())}});
  }
  ingest_events_ =
      std::make_unique<events::Subscriber>(events::SubscriberOptions{
          .source = "ingest",
          .channel = [this] { return Peer("ingest"); },
          .cursor = [this]() -> uint64_t {
            auto raw = store()->Get(kOnline, kIngestCursor);
            return raw.ok() ? std::stoull(*raw) : 0;
          },
          .handle = [this](const v1::Event& e) -> absl::Status {
            if (e.topic() == "dataset.ingested") {
              const auto& a = e.attributes();
              auto d = a.find("dataset"), v = a.find("version"),
                   pushed = a.find("pushed_through");
              if (d != a.end() && v != a.end()) {
                if (auto s = preparer_->RefreshOnline(
                        d->second, std::stoll(v->second),
                        pushed == a.end() ? 0 : std::stoll(pushed->second));
                    !s.ok() && !absl::IsNotFound(s))
                  return s;
              }
            }
            return store()->Put(kOnline, kIngestCursor,
                                std::to_string(e.sequence()));
          },
      });
  return absl::OkStatus();
}

void PrepModule::MirrorLoop(util::BackgroundLoop& loop,
                            std::chrono::milliseconds every) {
  absl::Status last;
  do {
    absl::Status s = online_->SyncMirror();
    if (!s.ok() && s.message() != last.message()) {
      LogWarning("Redis online store not up to date; retrying",
                 {{"error", std::string(s.message())},
                  {"views_behind", StrCat(online_->ViewsBehind())}});
    } else if (s.ok() && !last.ok()) {
      LogInfo("Redis online store up to date again");
    }
    last = s;
  } while (loop.Wait(every));
}

const host::ModuleDef& PrepModuleDef() {
  static const auto* def = new host::ModuleDef{
      "prep",
      [](const host::ModuleEnv& env)
          -> absl::StatusOr<std::unique_ptr<host::ServiceModule>> {
        PrepModuleOptions options{.online_store =
                                      redis::OnlineStoreConfigFromFlags()};
        options.preparer.push_history =
            absl::GetFlag(FLAGS_online_push_history);
        return PrepModule::Open(env, std::move(options));
      }};
  return *def;
}

}  // namespace mlpipe::prep
