// Preparer: fitted transforms, feature sets (the offline store), the online
// store's materialization, and statistics comparison.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "absl/time/clock.h"
#include "clients/prepare_request.h"
#include "common/features/transform.h"
#include "common/metrics/metrics.h"
#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "common/util/background_loop.h"
#include "common/util/log.h"
#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "services/prep/preparer.h"

namespace mlpipe::prep {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kTransforms[] = "transforms";
constexpr char kFeatureSets[] = "feature_sets";
constexpr char kFeatures[] = "features";

struct Metrics {
  prometheus::Family<prometheus::Counter>& rows;
  // GetOnlineFeatures by raw ("false": vectors from memory; "true": also
  // the raw values, from disk).
  prometheus::Family<prometheus::Histogram>& online_latency;
  prometheus::Counter& online_keys;
  // From a pushed row's arrival at the ingestion service to its value in
  // the online store.
  prometheus::Histogram& push_lag;
  // online_latency's two series, resolved once (Add hashes its labels).
  prometheus::Histogram& online_plain =
      online_latency.Add({{"raw", "false"}}, metrics::LatencyBuckets());
  prometheus::Histogram& online_raw =
      online_latency.Add({{"raw", "true"}}, metrics::LatencyBuckets());
  static Metrics& Get() {
    static Metrics* m = new Metrics{
        prometheus::BuildCounter()
            .Name("mlpipe_prep_feature_rows_total")
            .Help("Rows turned into features, by stage (fit, apply, online).")
            .Register(metrics::Registry()),
        prometheus::BuildHistogram()
            .Name("mlpipe_prep_online_lookup_seconds")
            .Help("Time to answer one GetOnlineFeatures request, by raw "
                  "(true: with the rows' raw values, read from disk).")
            .Register(metrics::Registry()),
        prometheus::BuildCounter()
            .Name("mlpipe_prep_online_keys_total")
            .Help("Entity keys looked up in the online store.")
            .Register(metrics::Registry())
            .Add({}),
        prometheus::BuildHistogram()
            .Name("mlpipe_prep_online_push_lag_seconds")
            .Help("Time from a pushed message's arrival at the ingestion "
                  "service to its rows' values in the online store.")
            .Register(metrics::Registry())
            .Add({}, metrics::LatencyBuckets()),
    };
    return *m;
  }
};

std::string ChunkKey(const std::string& fs, int64_t index) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%010lld", static_cast<long long>(index));
  return StrCat(fs, "/", buf);
}

// The entity key of row r as text (numbers as JavaScript prints them).
std::string KeyText(const table::Column& c, size_t r) {
  std::string out;
  if (table::IsStringType(c.type)) return c.strings[r];
  if (c.type == table::ColumnType::kNumeric) {
    table::AppendNumber(c.numbers[r], &out);
  } else if (c.type == table::ColumnType::kTimestamp) {
    out = std::to_string(c.timestamps[r]);
  }
  return out;
}

// Every input column the transform reads.
std::vector<std::string> Inputs(const v1::FittedTransform& t) {
  std::vector<std::string> out;
  for (const auto& c : t.columns()) out.push_back(c.input());
  return out;
}

// The raw columns an online view's values keep: the transform's inputs.
void SetRawColumns(const v1::FittedTransform& t, v1::OnlineView* view) {
  std::vector<std::string> raw;
  for (const auto& c : Inputs(t)) AddUnique(&raw, c);
  view->mutable_raw_columns()->Assign(raw.begin(), raw.end());
}

// Row r of `c` as a JSON-like value: what `features get` shows as raw.
google::protobuf::Value RawValue(const table::Column& c, size_t r) {
  google::protobuf::Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);  // Missing, or untyped.
  if (!c.IsValid(r)) return v;
  if (table::IsStringType(c.type)) {
    v.set_string_value(c.strings[r]);
  } else if (c.type == table::ColumnType::kNumeric) {
    v.set_number_value(c.numbers[r]);
  } else if (c.type == table::ColumnType::kTimestamp) {
    v.set_string_value(
        TimeUtil::ToString(TimeUtil::MicrosecondsToTimestamp(c.timestamps[r])));
  }
  return v;
}

// Online rows of one applied chunk: key, event time, values and raw values.
absl::StatusOr<std::vector<OnlineRow>> OnlineRows(const v1::OnlineView& view,
                                                  const table::Table& raw,
                                                  const table::Table& feats) {
  int ki = raw.Find(view.entity_key());
  if (ki < 0) {
    return absl::InvalidArgumentError(StrCat(
        "entity_key: no column '", view.entity_key(), "' in the dataset"));
  }
  int ti =
      view.event_timestamp().empty() ? -1 : raw.Find(view.event_timestamp());
  if (!view.event_timestamp().empty() &&
      (ti < 0 || raw.columns[ti].type != table::ColumnType::kTimestamp)) {
    return absl::InvalidArgumentError(
        StrCat("event_timestamp: '", view.event_timestamp(),
               "' is not a timestamp column of the dataset"));
  }
  std::vector<const table::Column*> raw_columns;
  for (const auto& name : view.raw_columns()) {
    int ci = raw.Find(name);
    if (ci < 0) {
      return absl::InvalidArgumentError(
          StrCat("online view ", view.name(), ": no column '", name, "'"));
    }
    raw_columns.push_back(&raw.columns[ci]);
  }
  const table::Column& key = raw.columns[ki];
  std::vector<OnlineRow> rows;
  rows.reserve(raw.num_rows);
  for (size_t r = 0; r < raw.num_rows; ++r) {
    if (!key.IsValid(r)) continue;
    if (ti >= 0 && !raw.columns[ti].IsValid(r)) continue;
    OnlineRow row;
    row.key = KeyText(key, r);
    row.event_micros = ti >= 0 ? raw.columns[ti].timestamps[r] : 0;
    row.values.reserve(feats.columns.size());
    for (const auto& c : feats.columns) row.values.push_back(c.numbers[r]);
    for (const table::Column* c : raw_columns)
      *row.raw.add_values() = RawValue(*c, r);
    rows.push_back(std::move(row));
  }
  return rows;
}

bool SameColumns(const table::Table& a, const table::Table& b) {
  if (a.columns.size() != b.columns.size()) return false;
  for (size_t c = 0; c < a.columns.size(); ++c) {
    if (a.columns[c].name != b.columns[c].name ||
        a.columns[c].type != b.columns[c].type)
      return false;
  }
  return true;
}

// Publishes the online rows of one applied chunk (rows of dataset versions
// up to `version`) to the view.
absl::Status PublishOnline(OnlineStore* online, const v1::OnlineView& view,
                           int64_t version, const table::Table& raw,
                           const table::Table& feats,
                           UpsertParts parts = UpsertParts::kAll) {
  auto rows = OnlineRows(view, raw, feats);
  if (!rows.ok()) return rows.status();
  const size_t n = rows->size();
  if (auto s = online->Upsert(view.name(), version, *std::move(rows), 0,
                              /*sync=*/true, parts);
      !s.ok())
    return s;
  Metrics::Get().rows.Add({{"stage", "online"}}).Increment(n);
  return absl::OkStatus();
}

// Serves a feature set's chunks: projection, row range, frame size.
class FeatureSetReader final : public table::FrameReader {
 public:
  FeatureSetReader(const storage::Store* store, v1::FeatureSet fs,
                   std::vector<std::string> columns, int64_t begin, int64_t end,
                   int64_t max_rows)
      : store_(store),
        fs_(std::move(fs)),
        columns_(std::move(columns)),
        next_row_(begin),
        end_(end),
        max_rows_(max_rows) {}

  absl::StatusOr<bool> Next(v1::Frame* frame) override {
    if (next_row_ >= end_) return false;
    const int64_t chunk_rows = fs_.chunk_rows();
    int64_t index = next_row_ / chunk_rows;
    if (index != loaded_) {
      auto raw = store_->Get(kFeatures, ChunkKey(fs_.id(), index));
      if (!raw.ok()) return raw.status();
      v1::Frame f;
      if (!f.ParseFromString(*raw))
        return absl::DataLossError(
            StrCat("feature set ", fs_.id(), " chunk ", index, " is corrupt"));
      // The projection, on the wire form: no conversion of the values.
      chunk_.Clear();
      chunk_.set_num_rows(f.num_rows());
      for (const auto& name : columns_) {
        auto* cols = f.mutable_columns();
        auto it = std::find_if(
            cols->begin(), cols->end(),
            [&name](const v1::Column& c) { return c.name() == name; });
        if (it == cols->end())
          return absl::DataLossError(StrCat("feature set ", fs_.id(), " chunk ",
                                            index, " lacks column ", name));
        chunk_.add_columns()->Swap(&*it);
      }
      loaded_ = index;
    }
    int64_t in_chunk = next_row_ - index * chunk_rows;
    int64_t n =
        std::min({max_rows_, end_ - next_row_, chunk_.num_rows() - in_chunk});
    if (in_chunk == 0 && n == chunk_.num_rows()) {
      frame->Swap(&chunk_);  // Served whole: not needed again.
      loaded_ = -1;
    } else {
      rows_.resize(n);
      for (int64_t i = 0; i < n; ++i)
        rows_[i] = static_cast<uint32_t>(in_chunk + i);
      if (auto s = table::FilterFrame(chunk_, rows_, frame); !s.ok()) return s;
    }
    frame->set_row_offset(next_row_);
    next_row_ += n;
    return true;
  }

 private:
  const storage::Store* const store_;
  const v1::FeatureSet fs_;
  const std::vector<std::string> columns_;
  int64_t next_row_, end_, max_rows_;
  int64_t loaded_ = -1;
  v1::Frame chunk_;
  std::vector<uint32_t> rows_;
};

// Same request, same dataset version: same feature set.
std::string FeatureSetId(const v1::PrepareRequest& request, int64_t version) {
  v1::PrepareRequest resolved = request;
  resolved.set_version(version);
  Sha256 h;
  h.Update(DeterministicBytes(resolved));
  return StrCat("fs-", h.HexDigest().substr(7, 16));
}

// The training rows of the fitted columns: a row range, or the rows of a
// split's part.
struct FitScope {
  int64_t begin = 0, end = 0;  // The row range, when `rows` is empty.
  std::vector<uint8_t> rows;   // Non-zero for the rows of a split's part.
  std::string fitted_on;       // The rows in words, for FittedTransform.
};

absl::StatusOr<FitScope> ResolveFitScope(const v1::PrepareRequest& request,
                                         int64_t version, int64_t rows,
                                         const SplitPartRows& split_parts) {
  const auto& fit_on = request.fit_on();
  FitScope scope;
  scope.begin = fit_on.row_begin();
  scope.end = fit_on.row_end() > 0 ? fit_on.row_end() : rows;
  if (!fit_on.split().empty()) {
    if (!split_parts)
      return absl::FailedPreconditionError(
          "fit_on.split: this prep service has no split service");
    const std::string part = fit_on.part().empty() ? "train" : fit_on.part();
    auto mask = split_parts(fit_on.split(), part, request.dataset(), version);
    if (!mask.ok()) return mask.status();
    if (static_cast<int64_t>(mask->size()) != rows) {
      return absl::FailedPreconditionError(
          StrCat("fit_on.split: split ", fit_on.split(), " has ", mask->size(),
                 " rows; ", request.dataset(), "@v", version, " has ", rows));
    }
    scope.rows = std::move(*mask);
    scope.fitted_on = StrCat("dataset:", request.dataset(), "@v", version,
                             " split ", fit_on.split(), " part ", part);
  } else if (scope.begin >= rows || scope.end > rows) {
    return absl::InvalidArgumentError(
        StrCat("fit_on: rows [", scope.begin, ", ", scope.end, ") are outside ",
               request.dataset(), "@v", version, " (", rows, " rows)"));
  } else {
    scope.fitted_on = StrCat("dataset:", request.dataset(), "@v", version,
                             " rows ", scope.begin, "..", scope.end);
  }
  return scope;
}

// Appends rows [lo, hi) of `chunk` to `training`.
absl::Status AppendTrainingRows(const table::Table& chunk, int64_t lo,
                                int64_t hi, table::Table* training) {
  for (size_t j = 0; j < chunk.columns.size(); ++j) {
    int ti = training->Find(chunk.columns[j].name);
    if (ti < 0) return absl::InternalError("chunks disagree on their columns");
    training->columns[ti].AppendRows(chunk.columns[j], lo, hi - lo);
  }
  training->num_rows += hi - lo;
  return absl::OkStatus();
}

// The rows of `scope` from `reader` (of `rows` rows), as runs of consecutive
// rows per chunk. FAILED_PRECONDITION when there are none.
absl::StatusOr<table::Table> ReadTrainingRows(DatasetReader& reader,
                                              const FitScope& scope,
                                              int64_t rows,
                                              ops::Progress& progress) {
  table::Table training;
  int64_t row = 0;
  table::Table chunk;
  while (true) {
    if (progress.Cancelled()) return absl::CancelledError("cancelled");
    auto more = reader.Next(&chunk);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (training.columns.empty()) {
      for (const auto& c : chunk.columns) {
        table::Column empty;
        empty.name = c.name;
        training.columns.push_back(std::move(empty));
      }
    }
    const int64_t chunk_end = row + static_cast<int64_t>(chunk.num_rows);
    if (!scope.rows.empty()) {
      for (int64_t r = row; r < chunk_end;) {
        if (!scope.rows[r]) {
          ++r;
          continue;
        }
        int64_t end = r;
        while (end < chunk_end && scope.rows[end]) ++end;
        if (auto s = AppendTrainingRows(chunk, r - row, end - row, &training);
            !s.ok())
          return s;
        r = end;
      }
    } else if (int64_t lo = std::max(scope.begin, row),
               hi = std::min<int64_t>(scope.end, chunk_end);
               lo < hi) {
      if (auto s = AppendTrainingRows(chunk, lo - row, hi - row, &training);
          !s.ok())
        return s;
    }
    row += chunk.num_rows;
    Metrics::Get().rows.Add({{"stage", "fit"}}).Increment(chunk.num_rows);
    progress.Update(row, 2 * rows, "reading training rows");
  }
  if (training.num_rows == 0) {
    return absl::FailedPreconditionError(
        StrCat("fit_on: no rows to fit on (", scope.fitted_on, ")"));
  }
  return training;
}

// The feature set's record, but for its row count and creation time.
v1::FeatureSet NewFeatureSet(const std::string& id,
                             const v1::PrepareRequest& request, int64_t version,
                             const v1::FittedTransform& fitted,
                             const std::vector<std::string>& features,
                             int64_t chunk_rows) {
  v1::FeatureSet fs;
  fs.set_id(id);
  fs.set_dataset(request.dataset());
  fs.set_version(version);
  fs.set_transform_id(fitted.id());
  for (const auto& n : features) fs.add_features(n);
  fs.set_label(request.label());
  fs.set_entity_key(request.entity_key());
  fs.set_event_timestamp(request.event_timestamp());
  for (const auto& p : request.passthrough()) fs.add_passthrough(p);
  fs.set_chunk_rows(chunk_rows);
  fs.set_fitted_on(fitted.fitted_on());
  return fs;
}

// Cuts the applied rows of a feature set into stored chunks of `chunk_rows`
// rows (the last may be shorter): v1::Frames under ChunkKey(id, index), put
// into `batch`, which is written out whenever it passes 8 MiB.
class FeatureChunkWriter {
 public:
  // `store` and `batch` are not owned.
  FeatureChunkWriter(storage::Store* store, std::string id, int64_t chunk_rows,
                     storage::WriteBatch* batch)
      : store_(store),
        id_(std::move(id)),
        chunk_rows_(chunk_rows),
        batch_(batch) {}

  // Appends rows (with the same columns each time) and puts every full chunk.
  absl::Status Add(table::Table rows) {
    if (pending_.columns.empty()) {
      pending_ = std::move(rows);
    } else {
      for (size_t j = 0; j < pending_.columns.size(); ++j)
        pending_.columns[j].AppendRows(rows.columns[j], 0, rows.num_rows);
      pending_.num_rows += rows.num_rows;
    }
    return Flush(false);
  }
  // Puts the rows left as the last chunk.
  absl::Status Finish() { return Flush(true); }
  int64_t written() const { return written_; }

 private:
  absl::Status Flush(bool last) {
    while (pending_.num_rows > 0 &&
           (last || static_cast<int64_t>(pending_.num_rows) >= chunk_rows_)) {
      size_t n = std::min<size_t>(pending_.num_rows, chunk_rows_);
      table::Table out;
      out.num_rows = n;
      table::Table rest;
      rest.num_rows = pending_.num_rows - n;
      for (auto& c : pending_.columns) {
        out.columns.push_back(n == pending_.num_rows ? std::move(c)
                                                     : c.Slice(0, n));
        if (rest.num_rows > 0)
          rest.columns.push_back(c.Slice(n, rest.num_rows));
      }
      pending_ = std::move(rest);
      v1::Frame frame;
      table::TableToFrame(out, &frame);
      frame.set_row_offset(written_);
      batch_->Put(kFeatures, ChunkKey(id_, chunks_++),
                  frame.SerializeAsString());
      written_ += n;
      if (batch_->ApproximateBytes() > (8 << 20)) {
        if (auto s = store_->Write(*batch_); !s.ok()) return s;
        batch_->Clear();
      }
    }
    return absl::OkStatus();
  }

  storage::Store* const store_;
  const std::string id_;
  const int64_t chunk_rows_;
  storage::WriteBatch* const batch_;
  table::Table pending_;  // Rows not yet in a chunk.
  int64_t chunks_ = 0, written_ = 0;
};

}  // namespace

struct Preparer::PrepareJob {
  const v1::PrepareRequest& request;
  int64_t version = 0;               // Resolved.
  int64_t rows = 0;                  // Of the version.
  std::string id;                    // Of the feature set.
  std::vector<std::string> inputs;   // Of the transforms.
  std::vector<std::string> carried;  // Label, key, time and passthrough.
};

absl::StatusOr<v1::FeatureSet> Preparer::Prepare(
    const v1::PrepareRequest& request, ops::Progress& progress) {
  if (auto s = CheckPrepareRequest(request); !s.ok()) return s;
  auto specs = features::ParseTransformSpecs(request.transforms());
  if (!specs.ok()) return specs.status();

  // The columns to read: transform inputs, label, key, time, passthrough.
  PrepareJob job{.request = request};
  for (const auto& spec : *specs)
    for (const auto& c : spec.columns) AddUnique(&job.inputs, c);
  AddUnique(&job.carried, request.label());
  AddUnique(&job.carried, request.entity_key());
  AddUnique(&job.carried, request.event_timestamp());
  for (const auto& p : request.passthrough()) AddUnique(&job.carried, p);
  std::vector<std::string> fit_columns = job.inputs;
  if (request.has_select()) AddUnique(&fit_columns, request.label());

  auto fit_reader = readers_(request.dataset(), request.version(),
                             ReadScope{.columns = fit_columns});
  if (!fit_reader.ok()) return fit_reader.status();
  job.version = (*fit_reader)->version();
  job.rows = (*fit_reader)->row_count();
  job.id = FeatureSetId(request, job.version);
  if (auto done = GetFeatureSet(job.id); done.ok()) return done;

  auto fitted = Fit(job, *specs, **fit_reader, progress);
  if (!fitted.ok()) return fitted.status();
  features::TransformApplier applier(*fitted);
  v1::FeatureSet fs =
      NewFeatureSet(job.id, request, job.version, *fitted,
                    applier.output_names(), options_.chunk_rows);
  auto view = NewOnlineView(job, *fitted, &fs);
  if (!view.ok()) return view.status();
  if (auto s = StoreTransform(*fitted, *view); !s.ok()) return s;
  storage::WriteBatch batch;
  auto written = WriteFeatures(job, applier, *view, progress, &batch);
  if (!written.ok()) return written.status();
  fs.set_num_rows(*written);
  *fs.mutable_created_at() = TimeUtil::GetCurrentTime();
  if (auto s =
          RecordFeatureSet(job, fs, std::move(batch), !view->name().empty());
      !s.ok())
    return s;
  return fs;
}

absl::StatusOr<v1::FittedTransform> Preparer::Fit(
    const PrepareJob& job, const std::vector<features::TransformSpec>& specs,
    DatasetReader& reader, ops::Progress& progress) const {
  const v1::PrepareRequest& request = job.request;
  auto scope = ResolveFitScope(request, job.version, job.rows, split_parts_);
  if (!scope.ok()) return scope.status();
  // Freed on return, before the second pass.
  auto training = ReadTrainingRows(reader, *scope, job.rows, progress);
  if (!training.ok()) return training.status();
  auto fitted = features::FitTransform(specs, *training);
  if (!fitted.ok()) return fitted.status();
  if (request.has_select()) {
    if (auto s = features::SelectFeatures(*training, request.label(),
                                          request.select().method(),
                                          request.select().k(), &*fitted);
        !s.ok())
      return s;
  }
  fitted->set_fitted_on(scope->fitted_on);
  return fitted;
}

absl::StatusOr<v1::OnlineView> Preparer::NewOnlineView(
    const PrepareJob& job, const v1::FittedTransform& fitted,
    v1::FeatureSet* fs) const {
  const v1::PrepareRequest& request = job.request;
  v1::OnlineView view;
  if (request.entity_key().empty()) return view;
  if (online_ == nullptr)
    return absl::FailedPreconditionError(
        "entity_key: this prep service has no online store");
  view.set_name(StrCat(request.dataset(), "/", fitted.id()));
  view.set_dataset(request.dataset());
  view.set_transform_id(fitted.id());
  *view.mutable_features() = fs->features();
  view.set_entity_key(request.entity_key());
  view.set_event_timestamp(request.event_timestamp());
  SetRawColumns(fitted, &view);
  view.add_feature_sets(fs->id());
  fs->set_online_view(view.name());
  return view;
}

absl::Status Preparer::StoreTransform(const v1::FittedTransform& fitted,
                                      const v1::OnlineView& view) {
  storage::WriteBatch b;
  b.Put(kTransforms, fitted.id(), fitted.SerializeAsString());
  if (auto s = store_->Write(b); !s.ok()) return s;
  if (!view.name().empty()) {
    if (auto s = online_->PutView(view); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Preparer::WriteFeatures(
    const PrepareJob& job, const features::TransformApplier& applier,
    const v1::OnlineView& view, ops::Progress& progress,
    storage::WriteBatch* batch) {
  std::vector<std::string> read_columns = job.inputs;
  for (const auto& c : job.carried) AddUnique(&read_columns, c);
  auto reader = readers_(job.request.dataset(), job.version,
                         ReadScope{.columns = read_columns});
  if (!reader.ok()) return reader.status();
  FeatureChunkWriter writer(store_, job.id, options_.chunk_rows, batch);
  table::Table chunk;
  int64_t row = 0;
  while (true) {
    if (progress.Cancelled()) return absl::CancelledError("cancelled");
    auto more = (*reader)->Next(&chunk);
    if (!more.ok()) return more.status();
    if (!*more) break;
    auto feats = applier.ApplyBatch(chunk);
    if (!feats.ok()) return feats.status();
    if (!view.name().empty()) {
      if (auto s = PublishOnline(online_, view, job.version, chunk, *feats);
          !s.ok())
        return s;
    }
    for (const auto& name : job.carried) {
      int ci = chunk.Find(name);
      if (ci < 0) {
        return absl::InvalidArgumentError(StrCat(
            "passthrough: no column '", name, "' in ", job.request.dataset()));
      }
      feats->columns.push_back(std::move(chunk.columns[ci]));
    }
    if (auto s = writer.Add(std::move(*feats)); !s.ok()) return s;
    row += chunk.num_rows;
    Metrics::Get().rows.Add({{"stage", "apply"}}).Increment(chunk.num_rows);
    progress.Update(job.rows + row, 2 * job.rows, "applying transforms");
  }
  if (auto s = writer.Finish(); !s.ok()) return s;
  return writer.written();
}

absl::Status Preparer::RecordFeatureSet(const PrepareJob& job,
                                        const v1::FeatureSet& fs,
                                        storage::WriteBatch batch,
                                        bool online) {
  batch.Put(kFeatureSets, fs.id(), fs.SerializeAsString());
  auto event = events::EventLog::Make(
      "features.ready", {{"feature_set", fs.id()},
                         {"dataset", job.request.dataset()},
                         {"version", std::to_string(job.version)},
                         {"transform", fs.transform_id()},
                         {"rows", std::to_string(fs.num_rows())}});
  if (auto s = events_->Commit(std::move(batch), {event}, {.sync = true});
      !s.ok())
    return s;
  // Versions ingested since this one: bring the online view up to date.
  if (online) {
    if (auto s = RefreshOnline(job.request.dataset(), 0); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::FeatureSet> Preparer::GetFeatureSet(
    const std::string& id) const {
  auto raw = store_->Get(kFeatureSets, id);
  if (absl::IsNotFound(raw.status()))
    return absl::NotFoundError(StrCat("feature set '", id, "' not found"));
  if (!raw.ok()) return raw.status();
  v1::FeatureSet fs;
  if (!fs.ParseFromString(*raw))
    return absl::DataLossError(StrCat("feature set '", id, "' is corrupt"));
  return fs;
}

absl::StatusOr<v1::FittedTransform> Preparer::GetTransform(
    const std::string& id) const {
  auto raw = store_->Get(kTransforms, id);
  if (absl::IsNotFound(raw.status()))
    return absl::NotFoundError(StrCat("transform '", id, "' not found"));
  if (!raw.ok()) return raw.status();
  v1::FittedTransform t;
  if (!t.ParseFromString(*raw))
    return absl::DataLossError(StrCat("transform '", id, "' is corrupt"));
  return t;
}

absl::StatusOr<std::unique_ptr<table::FrameReader>> Preparer::ReadFeatures(
    const v1::ReadFeaturesRequest& req) const {
  auto fs = GetFeatureSet(req.feature_set());
  if (!fs.ok()) return fs.status();
  std::vector<std::string> all(fs->features().begin(), fs->features().end());
  for (const auto& c : {fs->label(), fs->entity_key(), fs->event_timestamp()})
    AddUnique(&all, c);
  for (const auto& p : fs->passthrough()) AddUnique(&all, p);
  std::vector<std::string> columns;
  for (const auto& c : req.columns()) {
    if (std::find(all.begin(), all.end(), c) == all.end()) {
      return absl::InvalidArgumentError(StrCat(
          "columns: feature set ", fs->id(), " has no column '", c, "'"));
    }
    AddUnique(&columns, c);
  }
  if (columns.empty()) columns = all;
  int64_t end = req.row_end() > 0 ? std::min(req.row_end(), fs->num_rows())
                                  : fs->num_rows();
  if (req.row_begin() < 0 || req.row_end() < 0 ||
      (req.row_end() > 0 && req.row_end() <= req.row_begin())) {
    return absl::InvalidArgumentError(
        "row_begin, row_end: need 0 <= row_begin < row_end");
  }
  int64_t max_rows =
      req.max_rows_per_frame() > 0 ? req.max_rows_per_frame() : 65536;
  return std::unique_ptr<table::FrameReader>(
      new FeatureSetReader(store_, std::move(*fs), std::move(columns),
                           req.row_begin(), end, max_rows));
}

absl::StatusOr<v1::GetOnlineFeaturesResponse> Preparer::GetOnlineFeatures(
    const v1::GetOnlineFeaturesRequest& req) const {
  auto started = std::chrono::steady_clock::now();
  if (online_ == nullptr)
    return absl::FailedPreconditionError(
        "this prep service has no online store");
  std::string view_name = req.feature_set();
  if (view_name.rfind("fs-", 0) == 0) {
    auto fs = GetFeatureSet(view_name);
    if (!fs.ok()) return fs.status();
    if (fs->online_view().empty()) {
      return absl::FailedPreconditionError(
          StrCat("feature set ", fs->id(),
                 " has no online view (prepare it with an entity_key)"));
    }
    view_name = fs->online_view();
  }
  auto view = online_->GetView(view_name);
  if (!view.ok()) return view.status();
  if (req.keys().empty()) return absl::InvalidArgumentError("keys: required");
  if (req.as_of_size() > 1 && req.as_of_size() != req.keys_size()) {
    return absl::InvalidArgumentError("as_of: give none, one, or one per key");
  }
  std::vector<int> projection;
  v1::GetOnlineFeaturesResponse out;
  for (const auto& f : req.features()) {
    auto it = std::find(view->features().begin(), view->features().end(), f);
    if (it == view->features().end()) {
      return absl::InvalidArgumentError(
          StrCat("features: no feature '", f, "' in ", view_name));
    }
    projection.push_back(static_cast<int>(it - view->features().begin()));
    out.add_features(f);
  }
  if (projection.empty()) *out.mutable_features() = view->features();
  for (int i = 0; i < req.keys_size(); ++i) {
    const std::string& key = req.keys(i);
    OnlineLookup found;
    if (req.as_of_size() > 0) {
      const auto& t = req.as_of(req.as_of_size() == 1 ? 0 : i);
      auto at =
          online_->AsOf(view_name, key, TimeUtil::TimestampToMicroseconds(t),
                        req.include_raw());
      if (!at.ok()) return at.status();
      found = std::move(*at);
    } else {
      auto latest = online_->Latest(view_name, key, req.include_raw());
      if (!latest.ok()) return latest.status();
      found = std::move(*latest);
    }
    v1::OnlineFeatureVector* v = out.add_vectors();
    v->set_key(key);
    v->set_found(found.found);
    if (!found.found) continue;
    if (projection.empty()) {
      *v->mutable_values() = found.value.values();
    } else {
      for (int j : projection) v->add_values(found.value.values(j));
    }
    if (!view->event_timestamp().empty())
      *v->mutable_event_time() =
          TimeUtil::MicrosecondsToTimestamp(found.value.event_micros());
    v->set_dataset_version(found.value.version());
    if (req.include_raw())
      *v->mutable_raw() = std::move(*found.value.mutable_raw());
  }
  if (req.include_raw()) *out.mutable_raw_columns() = view->raw_columns();
  Metrics::Get().online_keys.Increment(req.keys_size());
  (req.include_raw() ? Metrics::Get().online_raw : Metrics::Get().online_plain)
      .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                             started)
                   .count());
  return out;
}

absl::Status Preparer::RefreshOnline(const std::string& dataset,
                                     int64_t version, int64_t pushed_through) {
  if (online_ == nullptr) return absl::OkStatus();
  for (const auto& view : online_->ViewsOf(dataset)) {
    if (version > 0 && view.version() >= version && !view.raw_columns().empty())
      continue;
    const bool applied = pushed_through > 0 && view.version() == version - 1 &&
                         view.pushed_through() >= pushed_through &&
                         !view.raw_columns().empty();
    if (applied && (view.event_timestamp().empty() || !options_.push_history)) {
      // Its rows were applied as they were pushed (and their history is not
      // kept): applying them again could put older values back over newer
      // pushed ones.
      if (auto s = online_->Upsert(view.name(), version, {}); !s.ok()) return s;
      continue;
    }
    if (applied) {
      // Their latest values are in; their history comes now, as background
      // work: pushed rows reaching the online store come first.
      auto fitted = GetTransform(view.transform_id());
      if (!fitted.ok()) return fitted.status();
      absl::Status s;
      std::thread([&] {
        util::LowerThreadPriority();
        s = Materialize(view, *fitted, version, UpsertParts::kHistory);
      }).join();
      if (!s.ok()) return s;
      continue;
    }
    auto fitted = GetTransform(view.transform_id());
    if (!fitted.ok()) return fitted.status();
    if (auto s = Materialize(view, *fitted, version); !s.ok()) return s;
  }
  // The authority is up to date; a Redis copy that is not is logged and
  // written again by the prep module's sync loop.
  if (auto s = online_->SyncMirror(); !s.ok()) {
    LogWarning("Redis online store not up to date (retried)",
               {{"dataset", dataset}, {"error", std::string(s.message())}});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const features::TransformApplier>>
Preparer::Applier(const std::string& transform_id) {
  {
    std::lock_guard lock(appliers_mu_);
    if (auto it = appliers_.find(transform_id); it != appliers_.end())
      return it->second;
  }
  auto fitted = GetTransform(transform_id);
  if (!fitted.ok()) return fitted.status();
  if (auto s = features::CheckFitted(*fitted); !s.ok()) return s;
  auto applier = std::make_shared<const features::TransformApplier>(*fitted);
  std::lock_guard lock(appliers_mu_);
  if (appliers_.size() >= 64) appliers_.clear();  // Bounded: rebuilt on use.
  return appliers_.emplace(transform_id, std::move(applier)).first->second;
}

absl::StatusOr<int64_t> Preparer::ApplyPushed(const std::string& dataset,
                                              const v1::PushedRows& pushed) {
  if (online_ == nullptr || pushed.records().empty()) return 0;
  // Each record's rows, read once for every view.
  std::vector<std::optional<table::Table>> raw(pushed.records_size());
  int64_t written = 0;
  for (const auto& view : online_->ViewsOf(dataset)) {
    if (view.raw_columns().empty()) continue;  // Backfilled first.
    // Runs of records with the same columns (an upload may add one to the
    // dataset between two), each one write.
    std::vector<const table::Table*> run;
    int64_t through = view.pushed_through();
    auto write = [&]() -> absl::Status {
      if (run.empty()) return absl::OkStatus();
      auto rows = LatestRows(view, run);
      run.clear();
      if (!rows.ok()) return rows.status();
      const int64_t n = static_cast<int64_t>(rows->size());
      // The push log keeps the rows: no fsync (see OnlineStore::Upsert).
      // Their history comes with their version (RefreshOnline).
      if (auto s = online_->Upsert(view.name(), 0, *std::move(rows), through,
                                   /*sync=*/false, UpsertParts::kLatest);
          !s.ok())
        return s;
      Metrics::Get().rows.Add({{"stage", "online_push"}}).Increment(n);
      written += n;
      return absl::OkStatus();
    };
    for (int i = 0; i < pushed.records_size(); ++i) {
      const v1::PushedRecord& rec = pushed.records(i);
      if (rec.position() <= through) continue;
      if (!raw[i].has_value()) {
        auto t = table::TableFromFrame(v1::Frame(rec.frame()));
        if (!t.ok()) return t.status();
        raw[i] = std::move(*t);
      }
      if (!run.empty() && !SameColumns(*run.front(), *raw[i])) {
        if (auto s = write(); !s.ok()) return s;
      }
      run.push_back(&*raw[i]);
      through = rec.position();
    }
    if (auto s = write(); !s.ok()) return s;
  }
  const int64_t now = absl::ToUnixMicros(absl::Now());
  for (const auto& rec : pushed.records()) {
    Metrics::Get().push_lag.Observe(
        std::max<int64_t>(0, now - rec.received_micros()) / 1e6);
  }
  return written;
}

absl::StatusOr<std::vector<OnlineRow>> Preparer::LatestRows(
    const v1::OnlineView& view, const std::vector<const table::Table*>& in) {
  // The row that wins each key (the latest event time, the later row on a
  // tie): only those are transformed and written.
  struct Pick {
    const table::Table* t;
    size_t row;
    int64_t micros;
  };
  std::unordered_map<std::string, Pick> best;
  std::vector<std::string> order;  // Keys as they first came.
  for (const table::Table* t : in) {
    const int ki = t->Find(view.entity_key());
    const int ti =
        view.event_timestamp().empty() ? -1 : t->Find(view.event_timestamp());
    if (ki < 0 || (!view.event_timestamp().empty() && ti < 0))
      return absl::InvalidArgumentError(StrCat(
          "online view ", view.name(), ": pushed rows lack its key or time"));
    for (size_t r = 0; r < t->num_rows; ++r) {
      if (!t->columns[ki].IsValid(r)) continue;
      if (ti >= 0 && !t->columns[ti].IsValid(r)) continue;
      const int64_t micros = ti >= 0 ? t->columns[ti].timestamps[r] : 0;
      auto [it, fresh] =
          best.try_emplace(KeyText(t->columns[ki], r), Pick{t, r, micros});
      if (fresh) {
        order.push_back(it->first);
      } else if (micros >= it->second.micros) {
        it->second = Pick{t, r, micros};
      }
    }
  }
  table::Table winners;
  winners.num_rows = order.size();
  for (const table::Column& c : in.front()->columns)
    winners.columns.push_back(c.Slice(0, 0));  // Its name and type.
  for (const std::string& k : order) {
    const Pick& p = best[k];
    for (size_t c = 0; c < winners.columns.size(); ++c)
      winners.columns[c].AppendRows(p.t->columns[c], p.row, 1);
  }
  auto applier = Applier(view.transform_id());
  if (!applier.ok()) return applier.status();
  auto feats = (*applier)->ApplyBatch(winners);
  if (!feats.ok()) return feats.status();
  return OnlineRows(view, winners, *feats);
}

absl::Status Preparer::LinkFeatureSets() {
  if (online_ == nullptr) return absl::OkStatus();
  std::map<std::string, std::vector<std::string>> by_view;
  for (auto it = store_->Scan(kFeatureSets, ""); it->Valid(); it->Next()) {
    v1::FeatureSet fs;
    if (!fs.ParseFromArray(it->value().data(),
                           static_cast<int>(it->value().size())))
      return absl::DataLossError(StrCat("feature set ", it->key(), " corrupt"));
    if (!fs.online_view().empty()) by_view[fs.online_view()].push_back(fs.id());
  }
  for (auto& [name, ids] : by_view) {
    auto view = online_->GetView(name);
    if (!view.ok()) continue;
    const auto& have = view->feature_sets();
    bool missing = false;
    for (const auto& id : ids) {
      if (std::find(have.begin(), have.end(), id) == have.end()) {
        view->add_feature_sets(id);
        missing = true;
      }
    }
    if (!missing) continue;
    if (auto s = online_->PutView(*view); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Preparer::BackfillRawValues() {
  if (online_ == nullptr) return absl::OkStatus();
  std::set<std::string> datasets;
  for (const auto& view : online_->ViewsOf("")) {
    if (view.raw_columns().empty()) datasets.insert(view.dataset());
  }
  for (const auto& d : datasets) {
    if (auto s = RefreshOnline(d, 0); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Preparer::Materialize(v1::OnlineView view,
                                   const v1::FittedTransform& fitted,
                                   int64_t to_version, UpsertParts parts) {
  if (view.raw_columns().empty()) {
    // Made before values kept their rows' raw values: every version again,
    // so each stored value gets them (a row replaces itself: same key, same
    // event time).
    SetRawColumns(fitted, &view);
    if (auto s = online_->PutView(view); !s.ok()) return s;
    view.set_version(0);
  }
  std::vector<std::string> columns = Inputs(fitted);
  AddUnique(&columns, view.entity_key());
  AddUnique(&columns, view.event_timestamp());
  auto reader =
      readers_(view.dataset(), to_version,
               ReadScope{.columns = columns, .after_version = view.version()});
  if (!reader.ok()) return reader.status();
  if ((*reader)->version() <= view.version()) return absl::OkStatus();
  // A stored transform: checked before it writes anywhere.
  if (auto s = features::CheckFitted(fitted); !s.ok()) return s;
  features::TransformApplier applier(fitted);
  table::Table chunk;
  while (true) {
    auto more = (*reader)->Next(&chunk);
    if (!more.ok()) return more.status();
    if (!*more) break;
    auto feats = applier.ApplyBatch(chunk);
    if (!feats.ok()) return feats.status();
    if (auto s = PublishOnline(online_, view, (*reader)->version(), chunk,
                               *feats, parts);
        !s.ok())
      return s;
  }
  // Record the version even when it added no rows.
  return online_->Upsert(view.name(), (*reader)->version(), {});
}

}  // namespace mlpipe::prep
