#include "services/ingest/ingestor.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "clients/dataset_versions.h"
#include "common/table/typing.h"
#include "common/util/ids.h"
#include "google/protobuf/util/time_util.h"
#include "services/ingest/ingestor_internal.h"
#include "services/ingest/open_beneath.h"

namespace mlpipe::ingest {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using google::protobuf::util::TimeUtil;

}  // namespace

Metrics& Metrics::Get() {
  static Metrics* m = [] {
    auto& r = metrics::Registry();
    return new Metrics{
        prometheus::BuildCounter()
            .Name("mlpipe_ingest_rows_total")
            .Help("Rows stored in committed batches.")
            .Register(r)
            .Add({}),
        prometheus::BuildCounter()
            .Name("mlpipe_ingest_bytes_total")
            .Help("Bytes received in committed batches.")
            .Register(r)
            .Add({}),
        prometheus::BuildCounter()
            .Name("mlpipe_ingest_batches_total")
            .Help("Batches committed.")
            .Register(r)
            .Add({}),
        prometheus::BuildCounter()
            .Name("mlpipe_ingest_rejections_total")
            .Help("Uploads rejected, by reason.")
            .Register(r),
        prometheus::BuildHistogram()
            .Name("mlpipe_ingest_batch_duration_seconds")
            .Help("Time from the start of an upload to its durable commit.")
            .Register(r)
            .Add({}, metrics::LatencyBuckets()),
    };
  }();
  return *m;
}

std::string_view ReasonOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return "invalid_input";
    case absl::StatusCode::kFailedPrecondition:
      return "schema_conflict";
    case absl::StatusCode::kAborted:
      return "concurrent_upload";
    case absl::StatusCode::kCancelled:
      return "cancelled";
    default:
      return "storage_error";
  }
}

absl::Status CheckCompatible(const v1::Dataset& dataset,
                             const v1::Schema& batch) {
  std::map<std::string, const v1::Field*> have, got;
  for (const auto& f : dataset.schema().fields()) have[f.name()] = &f;
  for (const auto& f : batch.fields()) got[f.name()] = &f;
  std::vector<std::string> missing, extra, types;
  for (const auto& [name, f] : have) {
    auto it = got.find(name);
    if (it == got.end()) {
      missing.push_back(name);
    } else if (f->type() != v1::COLUMN_TYPE_UNSPECIFIED &&
               it->second->type() != v1::COLUMN_TYPE_UNSPECIFIED &&
               f->type() != it->second->type()) {
      types.push_back(StrCat(
          "'", name, "' is ",
          table::ColumnTypeName(static_cast<table::ColumnType>(f->type())),
          " in the dataset but ",
          table::ColumnTypeName(
              static_cast<table::ColumnType>(it->second->type())),
          " in this batch"));
    }
  }
  for (const auto& [name, f] : got) {
    if (!have.contains(name)) extra.push_back(name);
  }
  if (missing.empty() && extra.empty() && types.empty()) {
    return absl::OkStatus();
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) StrAppend(&s, s.empty() ? "" : ", ", x);
    return s;
  };
  std::string msg =
      StrCat("schema conflict with dataset '", dataset.name(), "':");
  if (!missing.empty())
    StrAppend(&msg, " missing columns [", join(missing), "];");
  if (!extra.empty())
    StrAppend(&msg, " unexpected columns [", join(extra), "];");
  if (!types.empty()) StrAppend(&msg, " type changes: ", join(types), ";");
  msg.pop_back();
  return absl::FailedPreconditionError(msg);
}

namespace {

absl::Status ValidateHeader(const v1::IngestHeader& h) {
  if (!IsValidName(h.dataset())) {
    return absl::InvalidArgumentError(StrCat(
        "header.dataset: '", h.dataset(),
        "' is not a valid name (1-128 of A-Z a-z 0-9 _ . -, not starting "
        "with . or -)"));
  }
  if (h.delimiter().size() > 1 || h.delimiter() == "\"" ||
      h.delimiter() == "\n" || h.delimiter() == "\r") {
    return absl::InvalidArgumentError(
        StrCat("header.delimiter: '", h.delimiter(),
               "' must be one character other than a quote or line end"));
  }
  if (!v1::DataFormat_IsValid(h.format())) {
    return absl::InvalidArgumentError(
        StrCat("header.format: ", static_cast<int>(h.format()),
               " is not a format (", "CSV, JSONL, FRAMES)"));
  }
  if (h.idempotency_key().size() > 256) {
    return absl::InvalidArgumentError(
        "header.idempotency_key: longer than 256 characters");
  }
  if (!IsUtf8(h.encoding()) && !IsLatin1(h.encoding())) {
    return absl::InvalidArgumentError(
        StrCat("header.encoding: '", h.encoding(), "' is not utf-8 or latin1"));
  }
  for (const auto& [name, type] : h.types()) {
    if (type != v1::CATEGORICAL && type != v1::TEXT && type != v1::NUMERIC) {
      return absl::InvalidArgumentError(
          StrCat("header.types.", name, ": ", v1::ColumnType_Name(type),
                 " cannot be declared (categorical, text or numeric)"));
    }
  }
  return absl::OkStatus();
}

// A declared column type agrees with the dataset's.
absl::Status CheckDeclaredTypes(const v1::IngestHeader& h,
                                const v1::Dataset& dataset) {
  for (const auto& f : dataset.schema().fields()) {
    auto it = h.types().find(f.name());
    if (it == h.types().end() || f.type() == v1::COLUMN_TYPE_UNSPECIFIED ||
        f.type() == it->second)
      continue;
    return absl::FailedPreconditionError(StrCat(
        "header.types.", f.name(), ": dataset '", dataset.name(),
        "' has the column as ",
        table::ColumnTypeName(static_cast<table::ColumnType>(f.type())),
        "; a column keeps its type (upload to a new dataset, or delete this "
        "one first)"));
  }
  return absl::OkStatus();
}

}  // namespace

storage::Options Ingestor::StorageOptions() {
  storage::Options o;
  o.column_families = {{.name = kDatasets},
                       {.name = kBatches},
                       {.name = kBlocks, .large_values = true},
                       {.name = kIdempotency},
                       {.name = kPending},
                       {.name = kRowHashes, .large_values = true},
                       {.name = kPush},
                       {.name = events::kEventsColumnFamily}};
  return o;
}

absl::StatusOr<std::unique_ptr<Ingestor>> Ingestor::Open(
    IngestorOptions options, storage::Store* store, events::EventLog* events) {
  if (options.block_rows == 0 || options.max_rows_per_frame == 0) {
    return absl::InvalidArgumentError(
        "block_rows and max_rows_per_frame must be > 0");
  }
  if (options.store_queue_blocks == 0) options.store_queue_blocks = 1;
  std::unique_ptr<Ingestor> ingestor(
      new Ingestor(std::move(options), store, events));
  if (auto s = ingestor->RecoverPendingUploads(); !s.ok()) return s;
  Metrics::Get();  // Register the families so /metrics lists them at once.
  return ingestor;
}

Ingestor::~Ingestor() = default;

absl::Status Ingestor::RecoverPendingUploads() {
  storage::WriteBatch wb;
  for (auto it = store_->Scan(kPending, ""); it->Valid(); it->Next()) {
    std::string id(it->key());
    wb.DeleteRange(kBlocks, id, storage::PrefixEnd(id));
    wb.DeleteRange(kRowHashes, id, storage::PrefixEnd(id));
    wb.Delete(kPending, id);
  }
  if (wb.empty()) return absl::OkStatus();
  return store_->Write(wb, {.sync = true});
}

absl::StatusOr<std::unique_ptr<Upload>> Ingestor::BeginUpload(
    const v1::IngestHeader& header) {
  if (auto s = ValidateHeader(header); !s.ok()) {
    Metrics::Get().Reject("invalid_header");
    return s;
  }
  std::optional<v1::Dataset> existing;
  auto ds = GetDataset(header.dataset());
  if (ds.ok()) {
    existing = std::move(*ds);
  } else if (ds.status().code() != absl::StatusCode::kNotFound) {
    return ds.status();
  }
  if (existing) {
    if (auto s = CheckDeclaredTypes(header, *existing); !s.ok()) {
      Metrics::Get().Reject("schema_conflict");
      return s;
    }
  }
  std::string token, replay;
  if (!header.idempotency_key().empty()) {
    token = IdempotencyKey(header.dataset(), header.idempotency_key());
    {
      std::lock_guard lock(keys_mu_);
      if (!keys_in_flight_.insert(token).second) {
        Metrics::Get().Reject("concurrent_upload");
        return absl::AbortedError(
            StrCat("header.idempotency_key: an upload with key '",
                   header.idempotency_key(), "' for dataset '",
                   header.dataset(), "' is in progress; retry when it ends"));
      }
    }
    auto prior = store_->Get(kIdempotency, token);
    if (prior.ok()) {
      replay = *prior;
    } else if (prior.status().code() != absl::StatusCode::kNotFound) {
      ReleaseKey(token);
      return prior.status();
    }
  }
  return NewUpload(
      [this](v1::Batch batch, const v1::IngestHeader& header,
             bool stored_before) {
        return Commit(std::move(batch), header, stored_before);
      },
      store_, options_, header, std::move(existing), std::move(replay),
      [this, token] {
        if (!token.empty()) ReleaseKey(token);
      });
}

void Ingestor::ReleaseKey(const std::string& key) {
  std::lock_guard lock(keys_mu_);
  keys_in_flight_.erase(key);
}

absl::StatusOr<v1::IngestResponse> Ingestor::IngestFile(
    const v1::IngestFileRequest& request) {
  if (options_.import_root.empty()) {
    return absl::FailedPreconditionError(
        "IngestFile is disabled: the server was started without an import "
        "root (--import_root)");
  }
  const std::string& p = request.path();
  if (p.empty()) return absl::InvalidArgumentError("path: required");
  if (p.find('\0') != std::string::npos)
    return absl::InvalidArgumentError("path: contains a NUL byte");
  fs::path rel(p);
  for (const auto& part : rel) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          StrCat("path: '", p, "' contains '..'"));
    }
  }
  std::error_code ec;
  fs::path root = fs::canonical(options_.import_root, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        StrCat("import root '", options_.import_root, "': ", ec.message()));
  }
  if (rel.is_absolute()) {
    // Absolute: it must name something under the root, as written.
    for (const fs::path& base : {root, fs::path(options_.import_root)}) {
      fs::path r = rel.lexically_relative(base);
      if (!r.empty() && *r.begin() != "..") {
        rel = r;
        break;
      }
    }
    if (rel.is_absolute()) {
      return absl::InvalidArgumentError(
          StrCat("path: '", p, "' is outside the import root"));
    }
  }
  // Opened beneath the root in one step: nothing swapped in between can
  // lead outside it.
  auto fd = OpenBeneath(root.string(), rel.string());
  if (!fd.ok()) return fd.status();
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{*fd};
  v1::IngestHeader header = request.header();
  if (header.source().empty()) header.set_source(p);
  auto upload = BeginUpload(header);
  if (!upload.ok()) return upload.status();
  std::string buf(1 << 20, '\0');
  while (true) {
    const ssize_t n = read(*fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::UnavailableError(
          StrCat("reading '", p, "' failed: ", std::strerror(errno)));
    }
    if (n == 0) break;
    if (auto s = (*upload)->AddChunk(
            std::string_view(buf.data(), static_cast<size_t>(n)));
        !s.ok()) {
      return s;
    }
  }
  return (*upload)->Finish();
}

absl::StatusOr<v1::Dataset> Ingestor::ReadDataset(
    const std::string& name) const {
  auto ds = GetProto<v1::Dataset>(store_, kDatasets, name);
  if (ds.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(StrCat("dataset '", name, "' not found"));
  }
  return ds;
}

absl::StatusOr<v1::Dataset> Ingestor::GetDataset(
    const std::string& name) const {
  auto ds = ReadDataset(name);
  if (!ds.ok()) return ds;
  // Every reader and append takes a column by its name, as its type.
  absl::flat_hash_set<std::string_view> names;
  for (const auto& f : ds->schema().fields()) {
    std::string wrong;
    if (f.name().empty()) {
      wrong = "a column without a name";
    } else if (!names.insert(f.name()).second) {
      wrong = StrCat("column '", f.name(), "' twice");
    } else if (!v1::ColumnType_IsValid(f.type())) {
      wrong = StrCat("column '", f.name(), "' of unknown type ",
                     static_cast<int>(f.type()));
    }
    if (!wrong.empty()) {
      return absl::DataLossError(
          StrCat("dataset '", name, "' is corrupt: its schema has ", wrong));
    }
  }
  return ds;
}

absl::StatusOr<std::vector<v1::Dataset>> Ingestor::ListDatasets() const {
  std::vector<v1::Dataset> out;
  auto it = store_->Scan(kDatasets, "");
  for (; it->Valid(); it->Next()) {
    v1::Dataset d;
    if (!d.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          StrCat("dataset '", it->key(), "' is corrupt"));
    }
    out.push_back(std::move(d));
  }
  if (auto s = it->status(); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::Batch>> Ingestor::ListBatches(
    const v1::Dataset& dataset) const {
  std::vector<v1::Batch> out;
  for (const auto& id : AllBatches(dataset)) {
    auto b = GetBatch(id);
    if (absl::IsNotFound(b.status())) continue;  // Deleted (DeleteBatch).
    if (!b.ok()) return b.status();
    out.push_back(std::move(*b));
  }
  return out;
}

absl::StatusOr<v1::Batch> Ingestor::GetBatch(const std::string& id) const {
  auto b = GetProto<v1::Batch>(store_, kBatches, id);
  if (b.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(StrCat("batch '", id, "' not found"));
  }
  return b;
}

absl::StatusOr<int64_t> Ingestor::DeleteDataset(const std::string& name) {
  std::lock_guard lock(commit_mu_);
  // Unchecked: a dataset whose schema is corrupt can still go.
  auto ds = ReadDataset(name);
  if (!ds.ok()) return ds.status();
  storage::WriteBatch wb;
  const std::vector<std::string> batches = AllBatches(*ds);
  for (const auto& id : batches) DeleteBatchData(id, &wb);
  std::string prefix = IdempotencyKey(name, "");
  for (auto it = store_->Scan(kIdempotency, prefix); it->Valid(); it->Next()) {
    wb.Delete(kIdempotency, it->key());
  }
  wb.Delete(kDatasets, name);
  auto event = events::EventLog::Make(
      "dataset.deleted",
      {{"dataset", name}, {"batches", std::to_string(batches.size())}});
  if (auto s =
          events_->Commit(std::move(wb), {std::move(event)}, {.sync = true});
      !s.ok()) {
    return s;
  }
  return static_cast<int64_t>(batches.size());
}

size_t Ingestor::TEST_UploadsInProgress() const {
  size_t n = 0;
  for (auto it = store_->Scan(kPending, ""); it->Valid(); it->Next()) ++n;
  return n;
}

absl::StatusOr<std::unique_ptr<FrameReader>> Ingestor::Read(
    const v1::ReadBatchesRequest& request) const {
  if (request.up_to_version() < 0) {
    return absl::InvalidArgumentError(
        StrCat("up_to_version: ", request.up_to_version(),
               " is negative (0: the latest version)"));
  }
  auto ds = GetDataset(request.dataset());
  if (!ds.ok()) return ds.status();
  std::vector<v1::Batch> batches;
  if (request.batch_ids_size() > 0) {
    for (const auto& id : request.batch_ids()) {
      auto b = GetBatch(id);
      if (!b.ok() || b->dataset() != ds->name()) {
        return absl::NotFoundError(StrCat("batch_ids: batch '", id,
                                          "' not found in dataset '",
                                          ds->name(), "'"));
      }
      batches.push_back(std::move(*b));
    }
  } else {
    const v1::DatasetVersion* v = FindVersion(*ds, request.up_to_version());
    if (v == nullptr && !ds->versions().empty()) {
      return absl::NotFoundError(StrCat("dataset '", ds->name(),
                                        "' has no version ",
                                        request.up_to_version()));
    }
    if (v != nullptr && !v->deleted_batch().empty()) {
      return absl::FailedPreconditionError(
          StrCat("dataset '", ds->name(), "' version ", v->version(),
                 " can no longer be read: its batch ", v->deleted_batch(),
                 " was deleted"));
    }
    for (const auto& id :
         v == nullptr ? std::vector<std::string>{} : VersionBatches(*ds, *v)) {
      auto b = GetBatch(id);
      if (!b.ok()) return b.status();
      batches.push_back(*std::move(b));
    }
  }
  std::vector<v1::Field> fields;
  if (request.columns_size() == 0) {
    fields.assign(ds->schema().fields().begin(), ds->schema().fields().end());
  } else {
    for (const auto& name : request.columns()) {
      const v1::Field* found = nullptr;
      for (const auto& f : ds->schema().fields()) {
        if (f.name() == name) found = &f;
      }
      if (found == nullptr) {
        return absl::InvalidArgumentError(StrCat(
            "columns: dataset '", ds->name(), "' has no column '", name, "'"));
      }
      fields.push_back(*found);
    }
  }
  size_t max_rows = options_.max_rows_per_frame;
  if (request.max_rows_per_frame() > 0) {
    max_rows = std::min<size_t>(max_rows, request.max_rows_per_frame());
  }
  return NewBatchReader(store_, std::move(batches), std::move(fields), max_rows,
                        options_.target_frame_bytes);
}

}  // namespace mlpipe::ingest
