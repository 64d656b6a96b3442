#include "services/split/splitter.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common/metrics/metrics.h"
#include "common/table/frame_codec.h"
#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "mlpipe/v1/prep_service.pb.h"
#include "services/split/assign.h"

namespace mlpipe::split {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kSplits[] = "splits";
constexpr char kAssignments[] = "assignments";

struct Metrics {
  prometheus::Family<prometheus::Counter>& created;
  prometheus::Family<prometheus::Counter>& warnings;
  prometheus::Counter& rows_read;
  prometheus::Histogram& create_seconds;
  static Metrics& Get() {
    static Metrics* m = new Metrics{
        prometheus::BuildCounter()
            .Name("mlpipe_split_splits_created_total")
            .Help("Splits created, by strategy.")
            .Register(metrics::Registry()),
        prometheus::BuildCounter()
            .Name("mlpipe_split_warnings_total")
            .Help("Warnings on created splits, by code.")
            .Register(metrics::Registry()),
        prometheus::BuildCounter()
            .Name("mlpipe_split_rows_read_total")
            .Help("Rows streamed by ReadSplit.")
            .Register(metrics::Registry())
            .Add({}),
        prometheus::BuildHistogram()
            .Name("mlpipe_split_create_seconds")
            .Help("Time to create one split (read, assign, store).")
            .Register(metrics::Registry())
            .Add({},
                 prometheus::Histogram::BucketBoundaries{
                     0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300}),
    };
    return *m;
  }
};

// Chunk indices have 10 digits, so keys sort in row order: a split has
// fewer than 2^32 rows (Assign refuses more), hence fewer than 10^10 chunks.
std::string ChunkKey(const std::string& id, int64_t index) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%010lld", static_cast<long long>(index));
  return StrCat(id, "/", buf);
}

// A split's stored assignment chunks, in row order.
absl::StatusOr<std::vector<v1::SplitAssignments>> ScanAssignments(
    const storage::Store* store, const std::string& id) {
  std::vector<v1::SplitAssignments> out;
  auto it = store->Scan(kAssignments, StrCat(id, "/"));
  for (; it->Valid(); it->Next()) {
    v1::SplitAssignments chunk;
    if (!chunk.ParseFromString(std::string(it->value())))
      return absl::DataLossError(StrCat("split '", id, "': assignment chunk ",
                                        it->key(), " is corrupt"));
    out.push_back(std::move(chunk));
  }
  if (auto s = it->status(); !s.ok()) return s;
  return out;
}

// Every column a feature set can serve.
std::vector<std::string> FeatureSetColumns(const v1::FeatureSet& fs) {
  std::vector<std::string> all(fs.features().begin(), fs.features().end());
  for (const auto& c : {fs.label(), fs.entity_key(), fs.event_timestamp()})
    if (!c.empty()) all.push_back(c);
  for (const auto& p : fs.passthrough()) all.push_back(p);
  return all;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Streams the selected rows of a feature set's frames.
class SplitReader final : public table::FrameReader {
 public:
  SplitReader(std::unique_ptr<table::FrameReader> source,
              std::vector<uint8_t> selected)
      : source_(std::move(source)), selected_(std::move(selected)) {}

  absl::StatusOr<bool> Next(v1::Frame* frame) override {
    while (true) {
      auto more = source_->Next(&in_);
      if (!more.ok() || !*more) return more;
      const int64_t base = in_.row_offset();
      rows_.clear();
      for (int64_t i = 0; i < in_.num_rows(); ++i)
        if (selected_[base + i]) rows_.push_back(static_cast<uint32_t>(i));
      if (rows_.empty()) continue;
      if (static_cast<int64_t>(rows_.size()) == in_.num_rows()) {
        frame->Swap(&in_);
      } else if (auto s = table::FilterFrame(in_, rows_, frame); !s.ok()) {
        return s;
      }
      frame->set_row_offset(emitted_);
      emitted_ += frame->num_rows();
      Metrics::Get().rows_read.Increment(
          static_cast<double>(frame->num_rows()));
      return true;
    }
  }

 private:
  std::unique_ptr<table::FrameReader> source_;
  const std::vector<uint8_t> selected_;  // One per row of the feature set.
  v1::Frame in_;
  std::vector<uint32_t> rows_;
  int64_t emitted_ = 0;
};

// Fills in what the source decides: dataset version, default label, and how
// many rows of the dataset version repeat an earlier row.
absl::Status ResolveSource(SplitData* data, v1::SplitSpec* spec,
                           v1::FeatureSet* fs, int64_t* rows,
                           std::vector<std::string>* columns,
                           int64_t* duplicates) {
  if (!spec->feature_set().empty()) {
    auto got = data->GetFeatureSet(spec->feature_set());
    if (!got.ok()) return got.status();
    *fs = std::move(*got);
    if (spec->label().empty()) spec->set_label(fs->label());
    *rows = fs->num_rows();
    *columns = FeatureSetColumns(*fs);
    spec->set_version(0);
    // A dataset deleted since: its duplicates are unknown.
    auto v = data->GetDatasetVersion(fs->dataset(), fs->version());
    if (v.ok()) *duplicates = v->duplicate_rows;
    return absl::OkStatus();
  }
  auto v = data->GetDatasetVersion(spec->dataset(), spec->version());
  if (!v.ok()) return v.status();
  spec->set_version(v->version);
  *rows = v->rows;
  *columns = std::move(v->columns);
  *duplicates = v->duplicate_rows;
  return absl::OkStatus();
}

// The duplicate_rows warning: repeated rows may fall on both sides of the
// split, so the test part measures rows the model was trained on.
void WarnOfDuplicates(int64_t duplicates, v1::Split* split) {
  if (duplicates <= 0) return;
  auto* w = split->add_warnings();
  w->set_code("duplicate_rows");
  w->set_message(StrCat(
      duplicates, " of ", split->num_rows(), " rows of ", split->dataset(),
      "@v", split->version(),
      " repeat an earlier row: copies may land in both train and test and "
      "flatter the test metrics (data appended twice? ingest with mode: "
      "replace, or `mlpipe datasets revert`)"));
}

// INVALID_ARGUMENT naming the field when the source (its columns `have`)
// lacks a column the split reads.
absl::Status CheckColumns(const v1::SplitSpec& spec, const v1::FeatureSet& fs,
                          const std::vector<std::string>& have,
                          const std::vector<std::string>& columns) {
  for (const auto& c : columns) {
    if (Contains(have, c)) continue;
    const std::string field = c == spec.label()          ? "label"
                              : c == spec.group_column() ? "group_column"
                                                         : "column";
    if (spec.feature_set().empty()) {
      return absl::InvalidArgumentError(StrCat(field, ": no column '", c,
                                               "' in ", spec.dataset(), "@v",
                                               spec.version()));
    }
    return absl::InvalidArgumentError(
        StrCat(field, ": feature set ", fs.id(), " has no column '", c,
               "' (carry it with the prepare step's passthrough, or split "
               "the dataset)"));
  }
  return absl::OkStatus();
}

// The split's inputs: the source's `columns` through `builder`, or only the
// row count when the strategy reads no column.
absl::StatusOr<SplitInputs> ReadInputs(SplitData* data,
                                       const v1::SplitSpec& spec,
                                       const std::vector<std::string>& columns,
                                       int64_t rows, InputsBuilder& builder,
                                       ops::Progress& progress) {
  SplitInputs inputs;
  if (columns.empty()) {
    inputs.rows = rows;
    return inputs;
  }
  absl::StatusOr<std::unique_ptr<table::FrameReader>> reader;
  if (!spec.feature_set().empty()) {
    v1::ReadFeaturesRequest req;
    req.set_feature_set(spec.feature_set());
    *req.mutable_columns() = {columns.begin(), columns.end()};
    reader = data->ReadFeatures(req);
  } else {
    reader = data->ReadDataset(spec.dataset(), spec.version(), columns);
  }
  if (!reader.ok()) return reader.status();
  v1::Frame frame;
  int64_t seen = 0;
  while (true) {
    if (progress.Cancelled()) return absl::CancelledError("cancelled");
    auto more = (*reader)->Next(&frame);
    if (!more.ok()) return more.status();
    if (!*more) break;
    auto t = table::TableFromFrame(std::move(frame));
    if (!t.ok()) return t.status();
    if (auto s = builder.Add(*t); !s.ok()) return s;
    seen += static_cast<int64_t>(t->num_rows);
    progress.Update(seen, rows, "reading split columns");
  }
  inputs = builder.Finish();
  if (inputs.rows != rows) {
    return absl::FailedPreconditionError(StrCat("the source has ", inputs.rows,
                                                " rows, but ", rows,
                                                " were announced"));
  }
  return inputs;
}

// Puts split `id`'s assignment of `rows` rows in chunks of `chunk_rows`.
void PutAssignments(const std::string& id, const Assignment& assignment,
                    int64_t rows, int64_t chunk_rows,
                    storage::WriteBatch* batch) {
  const auto& parts = assignment.parts;
  const auto& folds = assignment.folds;
  for (int64_t begin = 0, index = 0; begin < rows;
       begin += chunk_rows, ++index) {
    int64_t n = std::min(chunk_rows, rows - begin);
    v1::SplitAssignments chunk;
    chunk.set_row_offset(begin);
    chunk.set_parts(reinterpret_cast<const char*>(parts.data() + begin), n);
    if (!folds.empty())
      chunk.set_folds(reinterpret_cast<const char*>(folds.data() + begin), n);
    batch->Put(kAssignments, ChunkKey(id, index), chunk.SerializeAsString());
  }
}

v1::Event ReadyEvent(const v1::Split& split) {
  std::string part_rows;
  for (const auto& p : split.parts())
    StrAppend(&part_rows, part_rows.empty() ? "" : ",", p.name(), "=",
              p.rows());
  return events::EventLog::Make(
      "split.ready", {{"split", split.id()},
                      {"dataset", split.dataset()},
                      {"version", std::to_string(split.version())},
                      {"feature_set", split.feature_set()},
                      {"strategy", split.spec().strategy()},
                      {"parts", part_rows},
                      {"warnings", std::to_string(split.warnings_size())}});
}

// The index of the part `req` reads, its fold checked against the split's.
// INVALID_ARGUMENT naming the field.
absl::StatusOr<int> PartToRead(const v1::Split& split,
                               const v1::ReadSplitRequest& req) {
  int part = -1;
  std::string names;
  for (int i = 0; i < split.parts_size(); ++i) {
    if (split.parts(i).name() == req.part()) part = i;
    StrAppend(&names, i ? ", " : "", split.parts(i).name());
  }
  if (part < 0) {
    return absl::InvalidArgumentError(StrCat("part: split ", split.id(),
                                             " has no part '", req.part(),
                                             "' (parts: ", names, ")"));
  }
  const int folds = split.spec().folds();
  if (req.fold() != 0) {
    if (folds < 2)
      return absl::InvalidArgumentError(
          StrCat("fold: split ", split.id(), " has no folds"));
    if (req.fold() < 1 || req.fold() > folds)
      return absl::InvalidArgumentError(
          StrCat("fold: must be 1..", folds, ", not ", req.fold()));
    if (req.part() != split.spec().fold_part())
      return absl::InvalidArgumentError(StrCat("fold: folds are of part '",
                                               split.spec().fold_part(),
                                               "', not '", req.part(), "'"));
  } else if (req.holdout()) {
    return absl::InvalidArgumentError("holdout: needs a fold");
  }
  return part;
}

// The feature set `req` reads the split's rows from (the request's, else the
// split's): FAILED_PRECONDITION unless it has the split's rows.
absl::StatusOr<v1::FeatureSet> FeatureSetToRead(
    SplitData* data, const v1::Split& split, const v1::ReadSplitRequest& req) {
  const std::string fs_id =
      req.feature_set().empty() ? split.feature_set() : req.feature_set();
  if (fs_id.empty()) {
    return absl::InvalidArgumentError(
        StrCat("feature_set: required; split ", split.id(), " was made of ",
               split.dataset(), "@v", split.version(),
               " and reads any feature set of that version"));
  }
  auto fs = data->GetFeatureSet(fs_id);
  if (!fs.ok()) return fs.status();
  if (fs->dataset() != split.dataset() || fs->version() != split.version() ||
      fs->num_rows() != split.num_rows()) {
    return absl::FailedPreconditionError(
        StrCat("feature_set: ", fs->id(), " is of ", fs->dataset(), "@v",
               fs->version(), " (", fs->num_rows(), " rows); split ",
               split.id(), " is of ", split.dataset(), "@v", split.version(),
               " (", split.num_rows(), " rows)"));
  }
  return fs;
}

// The columns `req` reads from `fs`: those asked for (else the features),
// with the label only when asked for labels.
absl::StatusOr<std::vector<std::string>> ColumnsToRead(
    const v1::Split& split, const v1::FeatureSet& fs,
    const v1::ReadSplitRequest& req) {
  const auto have = FeatureSetColumns(fs);
  std::vector<std::string> columns;
  for (const auto& c : req.columns()) {
    if (!Contains(have, c))
      return absl::InvalidArgumentError(
          StrCat("columns: feature set ", fs.id(), " has no column '", c, "'"));
    if (!Contains(columns, c)) columns.push_back(c);
  }
  if (columns.empty())
    columns.assign(fs.features().begin(), fs.features().end());
  const std::string label =
      split.spec().label().empty() ? fs.label() : split.spec().label();
  if (req.with_labels()) {
    if (label.empty())
      return absl::InvalidArgumentError(
          StrCat("with_labels: split ", split.id(), " has no label"));
    if (!Contains(have, label))
      return absl::FailedPreconditionError(
          StrCat("with_labels: feature set ", fs.id(),
                 " does not carry the label '", label, "'"));
    if (!Contains(columns, label)) columns.push_back(label);
  } else {
    columns.erase(std::remove(columns.begin(), columns.end(), label),
                  columns.end());
    if (columns.empty())
      return absl::InvalidArgumentError(
          "columns: nothing left without the label");
  }
  return columns;
}

// The rows a read selects (one flag per row), and the first and last of
// them (-1 when none).
struct Selection {
  std::vector<uint8_t> rows;
  int64_t first = -1, last = -1;
};

Selection SelectRows(const v1::Split& split, const RowAssignments& a, int part,
                     const v1::ReadSplitRequest& req) {
  const uint8_t fold = static_cast<uint8_t>(req.fold() - 1);
  const bool forward = split.spec().strategy() == "time";
  Selection out;
  out.rows.resize(a.parts.size());
  for (size_t r = 0; r < a.parts.size(); ++r) {
    bool in = a.parts[r] == part;
    if (in && req.fold() != 0) {
      uint8_t f = a.folds[r];
      in = f != kNoFold && (req.holdout() ? f == fold
                            : forward     ? f < fold
                                          : f != fold);
    }
    out.rows[r] = in;
    if (in) {
      if (out.first < 0) out.first = static_cast<int64_t>(r);
      out.last = static_cast<int64_t>(r);
    }
  }
  return out;
}

}  // namespace

storage::Options Splitter::StorageOptions() {
  storage::Options o;
  o.column_families = {{.name = kSplits},
                       {.name = kAssignments, .large_values = true},
                       {.name = ops::kOperationsColumnFamily},
                       {.name = events::kEventsColumnFamily}};
  return o;
}

absl::StatusOr<v1::Split> Splitter::Create(const v1::SplitSpec& request,
                                           ops::Progress& progress) {
  const auto started = std::chrono::steady_clock::now();
  if (auto s = CheckSplitSpec(request); !s.ok()) return s;
  v1::SplitSpec spec = request;
  v1::FeatureSet fs;
  int64_t rows = 0;
  std::vector<std::string> have;  // The source's columns.
  int64_t duplicates = 0;
  if (auto s = ResolveSource(data_, &spec, &fs, &rows, &have, &duplicates);
      !s.ok())
    return s;
  if (auto s = NormalizeSpec(&spec); !s.ok()) return s;

  Sha256 h;
  h.Update(DeterministicBytes(spec));
  const std::string id = StrCat("sp-", h.HexDigest().substr(7, 16));
  if (auto done = Get(id); done.ok()) return done;

  InputsBuilder builder(spec);
  const std::vector<std::string> columns = builder.Columns();
  if (auto s = CheckColumns(spec, fs, have, columns); !s.ok()) return s;
  auto inputs = ReadInputs(data_, spec, columns, rows, builder, progress);
  if (!inputs.ok()) return inputs.status();
  progress.Update(rows, rows, "assigning rows");
  auto assignment = Assign(spec, *inputs);
  if (!assignment.ok()) return assignment.status();

  v1::Split split;
  split.set_id(id);
  *split.mutable_spec() = spec;
  split.set_dataset(spec.feature_set().empty() ? spec.dataset() : fs.dataset());
  split.set_version(spec.feature_set().empty() ? spec.version() : fs.version());
  split.set_feature_set(spec.feature_set());
  split.set_chunk_rows(options_.chunk_rows);
  Summarize(spec, *inputs, *assignment, &split);
  WarnOfDuplicates(duplicates, &split);
  *split.mutable_created_at() = TimeUtil::GetCurrentTime();

  storage::WriteBatch batch;
  PutAssignments(id, *assignment, rows, options_.chunk_rows, &batch);
  batch.Put(kSplits, id, split.SerializeAsString());
  if (auto s = events_->Commit(std::move(batch), {ReadyEvent(split)},
                               {.sync = true});
      !s.ok())
    return s;
  auto& m = Metrics::Get();
  m.created.Add({{"strategy", spec.strategy()}}).Increment();
  for (const auto& w : split.warnings())
    m.warnings.Add({{"code", w.code()}}).Increment();
  m.create_seconds.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started)
          .count());
  return split;
}

absl::StatusOr<v1::Split> Splitter::Get(const std::string& id) const {
  auto raw = store_->Get(kSplits, id);
  if (absl::IsNotFound(raw.status()))
    return absl::NotFoundError(StrCat("split '", id, "' not found"));
  if (!raw.ok()) return raw.status();
  v1::Split split;
  if (!split.ParseFromString(*raw))
    return absl::DataLossError(StrCat("split '", id, "' is corrupt"));
  return split;
}

absl::StatusOr<std::vector<v1::Split>> Splitter::List(
    const std::string& dataset) const {
  std::vector<v1::Split> out;
  auto it = store_->Scan(kSplits, "");
  for (; it->Valid(); it->Next()) {
    v1::Split s;
    if (!s.ParseFromString(std::string(it->value())))
      return absl::DataLossError(StrCat("split '", it->key(), "' is corrupt"));
    if (dataset.empty() || s.dataset() == dataset) out.push_back(std::move(s));
  }
  if (auto s = it->status(); !s.ok()) return s;
  std::sort(out.begin(), out.end(), [](const v1::Split& a, const v1::Split& b) {
    return std::make_pair(a.created_at().seconds(), a.created_at().nanos()) >
           std::make_pair(b.created_at().seconds(), b.created_at().nanos());
  });
  return out;
}

absl::StatusOr<std::vector<v1::SplitAssignments>> Splitter::Assignments(
    const std::string& id) const {
  if (auto split = Get(id); !split.ok()) return split.status();
  return ScanAssignments(store_, id);
}

absl::StatusOr<RowAssignments> Splitter::LoadAssignments(
    const v1::Split& split) const {
  auto chunks = ScanAssignments(store_, split.id());
  if (!chunks.ok()) return chunks.status();
  RowAssignments out;
  out.parts.reserve(split.num_rows());
  for (const auto& c : *chunks) {
    if (c.row_offset() != static_cast<int64_t>(out.parts.size()))
      return absl::DataLossError(
          StrCat("split '", split.id(), "': assignment chunks have a gap"));
    out.parts.insert(out.parts.end(), c.parts().begin(), c.parts().end());
    out.folds.insert(out.folds.end(), c.folds().begin(), c.folds().end());
  }
  if (static_cast<int64_t>(out.parts.size()) != split.num_rows())
    return absl::DataLossError(
        StrCat("split '", split.id(), "': ", out.parts.size(),
               " assignments for ", split.num_rows(), " rows"));
  return out;
}

absl::StatusOr<std::unique_ptr<table::FrameReader>> Splitter::Read(
    const v1::ReadSplitRequest& req) const {
  auto split = Get(req.split());
  if (!split.ok()) return split.status();
  auto part = PartToRead(*split, req);
  if (!part.ok()) return part.status();
  auto fs = FeatureSetToRead(data_, *split, req);
  if (!fs.ok()) return fs.status();
  auto columns = ColumnsToRead(*split, *fs, req);
  if (!columns.ok()) return columns.status();

  auto a = LoadAssignments(*split);
  if (!a.ok()) return a.status();
  Selection selected = SelectRows(*split, *a, *part, req);
  v1::ReadFeaturesRequest read;
  read.set_feature_set(fs->id());
  *read.mutable_columns() = {columns->begin(), columns->end()};
  read.set_max_rows_per_frame(req.max_rows_per_frame());
  if (selected.first < 0) {
    // Nothing selected: an empty stream.
    struct Empty final : table::FrameReader {
      absl::StatusOr<bool> Next(v1::Frame*) override { return false; }
    };
    return std::unique_ptr<table::FrameReader>(new Empty());
  }
  read.set_row_begin(selected.first);
  read.set_row_end(selected.last + 1);
  auto source = data_->ReadFeatures(read);
  if (!source.ok()) return source.status();
  return std::unique_ptr<table::FrameReader>(
      new SplitReader(std::move(*source), std::move(selected.rows)));
}

}  // namespace mlpipe::split
