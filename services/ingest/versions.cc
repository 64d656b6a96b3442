// Dataset versions: each upload, revert or batch deletion makes a version,
// a list of batches fixed when it is made (clients/dataset_versions.h).
#include <algorithm>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "clients/dataset_versions.h"
#include "google/protobuf/util/time_util.h"
#include "services/ingest/ingestor.h"
#include "services/ingest/ingestor_internal.h"
#include "services/ingest/row_hashes.h"

namespace mlpipe::ingest {
namespace {

using google::protobuf::util::TimeUtil;

v1::IngestResponse Unchanged(v1::Batch batch, const v1::DatasetVersion& v) {
  v1::IngestResponse r;
  *r.mutable_batch() = std::move(batch);
  r.set_deduplicated(true);
  *r.mutable_version() = v;
  return r;
}

}  // namespace

absl::StatusOr<v1::Dataset> Ingestor::DatasetFor(const v1::Batch& batch) const {
  auto ds = GetProto<v1::Dataset>(store_, kDatasets, batch.dataset());
  if (ds.status().code() == absl::StatusCode::kNotFound) {
    v1::Dataset dataset;
    dataset.set_name(batch.dataset());
    *dataset.mutable_schema() = batch.schema();
    *dataset.mutable_created_at() = TimeUtil::GetCurrentTime();
    return dataset;
  }
  if (!ds.ok()) return ds.status();
  if (auto s = CheckCompatible(*ds, batch.schema()); !s.ok()) return s;
  // Columns that were all missing so far take the batch's type.
  std::map<std::string, const v1::Field*> got;
  for (const auto& f : batch.schema().fields()) got[f.name()] = &f;
  for (auto& f : *ds->mutable_schema()->mutable_fields()) {
    if (f.type() == v1::COLUMN_TYPE_UNSPECIFIED) {
      f.set_type(got[f.name()]->type());
      f.set_timestamp_format(got[f.name()]->timestamp_format());
    }
  }
  return ds;
}

absl::StatusOr<std::vector<v1::Batch>> Ingestor::GetBatches(
    const std::vector<std::string>& ids) const {
  std::vector<v1::Batch> out;
  for (const auto& id : ids) {
    auto b = GetBatch(id);
    if (!b.ok()) return b.status();
    out.push_back(*std::move(b));
  }
  return out;
}

absl::StatusOr<std::vector<std::vector<uint64_t>>> Ingestor::RowHashesOf(
    const v1::Batch& batch) const {
  std::vector<std::vector<uint64_t>> out;
  auto it = store_->Scan(kRowHashes, batch.id());
  for (; it->Valid(); it->Next()) out.push_back(DecodeRowHashes(it->value()));
  if (auto s = it->status(); !s.ok()) return s;
  if (!out.empty() || batch.row_count() == 0) return out;
  // Not kept at upload (a first upload, a replace): from its blocks, kept
  // for the next append.
  auto reader = NewBatchReader(
      store_, {batch},
      {batch.schema().fields().begin(), batch.schema().fields().end()},
      options_.block_rows, options_.target_frame_bytes);
  storage::WriteBatch wb;
  v1::Frame frame;
  while (true) {
    auto more = reader->Next(&frame);
    if (!more.ok()) return more.status();
    if (!*more) break;
    std::vector<uint64_t> hashes(frame.num_rows(), 0);
    for (const auto& c : frame.columns()) AddToRowHashes(c, &hashes);
    wb.Put(kRowHashes,
           RowHashKey(batch.id(), static_cast<uint32_t>(out.size())),
           EncodeRowHashes(hashes));
    out.push_back(std::move(hashes));
  }
  if (auto s = store_->Write(wb); !s.ok()) return s;
  return out;
}

absl::StatusOr<int64_t> Ingestor::DuplicateRows(
    const std::vector<v1::Batch>& batches, int64_t* in_last) const {
  if (batches.size() == 1) {
    if (in_last != nullptr) *in_last = batches[0].duplicate_rows();
    return batches[0].duplicate_rows();
  }
  RepeatCounter counter;
  int64_t before_last = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    if (in_last != nullptr && i + 1 == batches.size())
      before_last = counter.Count();
    auto runs = RowHashesOf(batches[i]);
    if (!runs.ok()) return runs.status();
    for (const auto& run : *runs) counter.Add(run);
  }
  const int64_t repeats = counter.Count();
  if (in_last != nullptr) *in_last = repeats - before_last;
  return repeats;
}

absl::StatusOr<v1::DatasetVersion> Ingestor::AddVersion(
    v1::Dataset& dataset, const std::vector<v1::Batch>& batches,
    const std::string& made_by, const std::string& change,
    storage::WriteBatch wb, int64_t* in_last,
    const v1::DatasetVersion* within_after, int64_t pushed_through) {
  absl::StatusOr<int64_t> duplicates;
  if (within_after != nullptr || batches.size() == 1) {
    // The batch counted its own; the versions before it, theirs.
    const int64_t own = batches.back().duplicate_rows();
    if (in_last != nullptr) *in_last = own;
    duplicates = own + (within_after != nullptr && batches.size() > 1
                            ? within_after->duplicate_rows()
                            : 0);
  } else {
    duplicates = DuplicateRows(batches, in_last);
  }
  if (!duplicates.ok()) return duplicates.status();
  const bool within = batches.size() > 1 && within_after != nullptr;
  const bool within_before =
      within_after != nullptr && within_after->duplicates_within_batches();
  const auto now = TimeUtil::GetCurrentTime();
  v1::DatasetVersion& v = *dataset.add_versions();
  v.set_version(dataset.versions_size() == 1
                    ? 1
                    : dataset.versions(dataset.versions_size() - 2).version() +
                          1);
  v.set_batch_id(made_by);
  for (const auto& b : batches) {
    v.add_batch_ids(b.id());
    v.set_row_count(v.row_count() + b.row_count());
  }
  v.set_change(change);
  v.set_duplicate_rows(*duplicates);
  v.set_duplicates_within_batches(within || within_before);
  *v.mutable_created_at() = now;
  dataset.set_row_count(v.row_count());
  *dataset.mutable_updated_at() = now;
  wb.Put(kDatasets, dataset.name(), dataset.SerializeAsString());
  auto event = events::EventLog::Make("dataset.ingested",
                                      {{"dataset", dataset.name()},
                                       {"batch_id", made_by},
                                       {"version", std::to_string(v.version())},
                                       {"rows", std::to_string(v.row_count())},
                                       {"change", change}});
  if (pushed_through > 0) {
    (*event.mutable_attributes())["pushed_through"] =
        std::to_string(pushed_through);
  }
  if (auto s =
          events_->Commit(std::move(wb), {std::move(event)}, {.sync = true});
      !s.ok())
    return s;
  return v;
}

absl::StatusOr<v1::IngestResponse> Ingestor::Commit(
    v1::Batch batch, const v1::IngestHeader& header, bool stored_before) {
  std::lock_guard lock(commit_mu_);
  auto dataset = DatasetFor(batch);
  if (!dataset.ok()) return dataset.status();
  const bool replace = header.mode() == v1::REPLACE;
  const v1::DatasetVersion* latest = FindVersion(*dataset, 0);
  std::vector<std::string> before;
  if (latest != nullptr) before = VersionBatches(*dataset, *latest);
  if (stored_before) {  // A retried upload: its batch is stored already.
    const bool in_latest = replace
                               ? before == std::vector<std::string>{batch.id()}
                               : std::find(before.begin(), before.end(),
                                           batch.id()) != before.end();
    if (in_latest) return Unchanged(std::move(batch), *latest);
  }
  storage::WriteBatch wb;
  if (replace && !stored_before && before.size() == 1) {
    auto only = GetBatch(before[0]);
    if (!only.ok()) return only.status();
    if (only->content_hash() == batch.content_hash() &&
        only->row_count() == batch.row_count()) {
      DeleteBatchData(batch.id(), &wb);  // The same content: keep the first.
      wb.Delete(kPending, batch.id());
      if (auto s = store_->Write(wb, {.sync = true}); !s.ok()) return s;
      return Unchanged(*std::move(only), *latest);
    }
  }
  std::vector<v1::Batch> batches;
  if (!replace && latest != nullptr) {
    auto earlier = GetBatches(before);
    if (!earlier.ok()) return earlier.status();
    batches = *std::move(earlier);
  }
  if (!stored_before) {
    batch.set_version(latest == nullptr ? 1 : latest->version() + 1);
    *batch.mutable_created_at() = TimeUtil::GetCurrentTime();
    wb.Put(kBatches, batch.id(), batch.SerializeAsString());
    if (!header.idempotency_key().empty()) {
      wb.Put(kIdempotency,
             IdempotencyKey(batch.dataset(), header.idempotency_key()),
             batch.id());
    }
    wb.Delete(kPending, batch.id());
  }
  batches.push_back(batch);
  int64_t in_batch = 0;  // Its rows that repeat an earlier row.
  const bool within = !replace && header.duplicates_within_batch();
  // A compaction of pushed rows names its push log range in its key.
  int64_t pushed_through = 0;
  if (absl::string_view k = header.idempotency_key();
      header.source() == "push" && absl::ConsumePrefix(&k, "push:")) {
    const size_t dash = k.find('-');
    if (dash != absl::string_view::npos &&
        absl::SimpleAtoi(k.substr(dash + 1), &pushed_through))
      --pushed_through;  // The range's end is exclusive.
  }
  auto v = AddVersion(*dataset, batches, batch.id(),
                      replace ? "replace" : "append", std::move(wb), &in_batch,
                      within ? latest : nullptr, pushed_through);
  if (!v.ok()) return v.status();
  v1::IngestResponse r;
  *r.mutable_batch() = std::move(batch);
  r.set_deduplicated(stored_before);
  r.set_new_version(true);
  // Rows of the batch repeating a row of the previous version.
  if (!replace) r.set_duplicates(in_batch - r.batch().duplicate_rows());
  *r.mutable_version() = *std::move(v);
  return r;
}

absl::StatusOr<v1::Dataset> Ingestor::RevertDataset(const std::string& name,
                                                    int64_t version) {
  std::lock_guard lock(commit_mu_);
  auto ds = GetDataset(name);
  if (!ds.ok()) return ds.status();
  const v1::DatasetVersion* to =
      version > 0 ? FindVersion(*ds, version) : nullptr;
  if (to == nullptr) {
    return absl::NotFoundError(StrCat("dataset '", name, "' has no version ",
                                      version, " (versions 1..",
                                      ds->versions_size(), ")"));
  }
  if (!to->deleted_batch().empty()) {
    return absl::FailedPreconditionError(
        StrCat("version ", version, " of dataset '", name, "' contained batch ",
               to->deleted_batch(), ", since deleted"));
  }
  auto batches = GetBatches(VersionBatches(*ds, *to));
  if (!batches.ok()) return batches.status();
  auto v = AddVersion(*ds, *batches, "", StrCat("revert to v", version), {});
  if (!v.ok()) return v.status();
  return ds;
}

absl::StatusOr<v1::Dataset> Ingestor::DeleteBatch(const std::string& dataset,
                                                  const std::string& batch_id) {
  std::lock_guard lock(commit_mu_);
  auto ds = GetDataset(dataset);
  if (!ds.ok()) return ds.status();
  const auto all = AllBatches(*ds);
  if (std::find(all.begin(), all.end(), batch_id) == all.end()) {
    return absl::NotFoundError(
        StrCat("batch '", batch_id, "' is not in dataset '", dataset, "'"));
  }
  std::vector<std::string> keep;
  for (const auto& id : VersionBatches(*ds, *FindVersion(*ds, 0)))
    if (id != batch_id) keep.push_back(id);
  auto batches = GetBatches(keep);
  if (!batches.ok()) return batches.status();
  for (auto& v : *ds->mutable_versions()) {
    const auto ids = VersionBatches(*ds, v);
    if (std::find(ids.begin(), ids.end(), batch_id) == ids.end()) continue;
    // Versions stored before lists existed keep theirs when marked.
    if (v.change().empty()) {
      v.set_change("append");
      for (const auto& id : ids) v.add_batch_ids(id);
    }
    v.set_deleted_batch(batch_id);
  }
  storage::WriteBatch wb;
  DeleteBatchData(batch_id, &wb);
  const std::string keys = IdempotencyKey(dataset, "");
  for (auto it = store_->Scan(kIdempotency, keys); it->Valid(); it->Next()) {
    if (it->value() == batch_id) wb.Delete(kIdempotency, it->key());
  }
  auto v = AddVersion(*ds, *batches, "", StrCat("delete batch ", batch_id),
                      std::move(wb));
  if (!v.ok()) return v.status();
  return ds;
}

void Ingestor::DeleteBatchData(const std::string& id,
                               storage::WriteBatch* wb) const {
  wb->Delete(kBatches, id);
  wb->DeleteRange(kBlocks, id, storage::PrefixEnd(id));
  wb->DeleteRange(kRowHashes, id, storage::PrefixEnd(id));
}

}  // namespace mlpipe::ingest
