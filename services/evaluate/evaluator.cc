#include "services/evaluate/evaluator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "common/eval/score.h"
#include "common/eval/slices.h"
#include "common/features/transform.h"
#include "common/metrics/metrics.h"
#include "common/ml/artifact.h"
#include "common/ml/model.h"
#include "common/ml/table_data.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "mlpipe/v1/model.pb.h"
#include "mlpipe/v1/prep_service.pb.h"
#include "services/evaluate/evaluate_models.h"

namespace mlpipe::evaluate {

// Raw rows through a fitted transform: frames of its output features, with
// `passed` raw columns (label, slices) beside them.
class TransformingReader final : public table::FrameReader {
 public:
  TransformingReader(std::unique_ptr<table::FrameReader> raw,
                     features::TransformApplier transform,
                     std::vector<std::string> passed)
      : raw_(std::move(raw)),
        transform_(std::move(transform)),
        passed_(std::move(passed)) {}

  absl::StatusOr<bool> Next(v1::Frame* frame) override {
    v1::Frame in;
    auto more = raw_->Next(&in);
    if (!more.ok() || !*more) return more;
    auto t = table::TableFromFrame(std::move(in));
    if (!t.ok()) return t.status();
    auto out = transform_.ApplyBatch(*t);
    if (!out.ok()) return out.status();
    for (const auto& name : passed_) {
      const int c = t->Find(name);
      if (c < 0)
        return absl::InvalidArgumentError(
            StrCat("column '", name, "' is not in the raw rows"));
      if (out->Find(name) < 0) out->columns.push_back(std::move(t->columns[c]));
    }
    frame->Clear();
    table::TableToFrame(*out, frame);
    // Rows are numbered across frames (the split's assignments).
    frame->set_row_offset(offset_);
    offset_ += static_cast<int64_t>(out->num_rows);
    return true;
  }

 private:
  int64_t offset_ = 0;
  std::unique_ptr<table::FrameReader> raw_;
  const features::TransformApplier transform_;
  const std::vector<std::string> passed_;
};

namespace {

struct Metrics {
  prometheus::Family<prometheus::Counter>& evaluations;
  prometheus::Family<prometheus::Counter>& verdicts;
  prometheus::Histogram& seconds;
  static Metrics& Get() {
    static Metrics* m = new Metrics{
        prometheus::BuildCounter()
            .Name("mlpipe_evaluate_evaluations_total")
            .Help("Evaluations by outcome: blessed / not_blessed (the best "
                  "candidate's verdict), invalid (a bad request), failed.")
            .Register(metrics::Registry()),
        prometheus::BuildCounter()
            .Name("mlpipe_evaluate_verdicts_total")
            .Help("Candidates judged, by verdict (blessed, rejected).")
            .Register(metrics::Registry()),
        prometheus::BuildHistogram()
            .Name("mlpipe_evaluate_seconds")
            .Help("Time to run one evaluation (reading, predicting, metrics).")
            .Register(metrics::Registry())
            .Add({},
                 prometheus::Histogram::BucketBoundaries{0.1, 0.5, 1, 5, 10, 30,
                                                         60, 300, 1800}),
    };
    return *m;
  }
};

absl::Status Named(const absl::Status& s, const std::string& where) {
  return absl::Status(s.code(), StrCat(where, ": ", s.message()));
}

// The list form: what `mlpipe eval list` shows, without the bulky parts.
v1::Evaluation Summary(v1::Evaluation e) {
  auto trim = [](v1::ModelEvaluation* m) {
    auto* x = m->mutable_metrics();
    x->clear_roc();
    x->clear_pr();
    x->clear_calibration();
    m->clear_slices();
  };
  for (auto& c : *e.mutable_candidates()) trim(&c);
  if (e.has_baseline()) trim(e.mutable_baseline());
  return e;
}

}  // namespace

storage::Options Evaluator::StorageOptions() {
  storage::Options o;
  o.column_families = {{.name = kEvaluations, .large_values = true},
                       {.name = ops::kOperationsColumnFamily},
                       {.name = events::kEventsColumnFamily}};
  return o;
}

Evaluator::Evaluator(EvaluatorOptions options, storage::Store* store,
                     events::EventLog* events, EvaluateSources* sources)
    : options_(options), store_(store), events_(events), sources_(sources) {}

absl::StatusOr<v1::Evaluation> Evaluator::Get(const std::string& id) const {
  auto raw = store_->Get(kEvaluations, id);
  if (absl::IsNotFound(raw.status()))
    return absl::NotFoundError(StrCat("evaluation '", id, "' not found"));
  if (!raw.ok()) return raw.status();
  v1::Evaluation e;
  if (!e.ParseFromString(*raw))
    return absl::DataLossError(StrCat("evaluation '", id, "' is corrupt"));
  return e;
}

absl::StatusOr<std::vector<v1::Evaluation>> Evaluator::List(
    const std::string& model, int limit) const {
  std::vector<v1::Evaluation> out;
  auto it = store_->Scan(kEvaluations, "");
  for (; it->Valid(); it->Next()) {
    v1::Evaluation e;
    if (!e.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          StrCat("evaluation '", it->key(), "' is corrupt"));
    }
    // "credit:4" is that version; "credit" any of its versions.
    auto is = [&model](const std::string& m) {
      return m == model ||
             (model.find(':') == std::string::npos && m.size() > model.size() &&
              m.starts_with(model) && m[model.size()] == ':');
    };
    bool match = model.empty() || is(e.baseline().model());
    for (const auto& c : e.candidates()) match |= is(c.model());
    if (match) out.push_back(Summary(std::move(e)));
  }
  if (!it->status().ok()) return it->status();
  std::reverse(out.begin(), out.end());  // Ids follow creation order.
  if (limit > 0 && static_cast<int>(out.size()) > limit) out.resize(limit);
  return out;
}

absl::Status Evaluator::Check(const v1::EvaluateRequest& r) const {
  absl::Status s = CheckRequest(r);
  if (!s.ok())
    Metrics::Get().evaluations.Add({{"outcome", "invalid"}}).Increment();
  return s;
}

absl::StatusOr<v1::Evaluation> Evaluator::Run(const v1::EvaluateRequest& r,
                                              ops::Progress& progress) {
  const auto started = std::chrono::steady_clock::now();
  auto e = RunOnce(r, progress);
  auto& m = Metrics::Get();
  if (e.ok()) {
    m.evaluations.Add({{"outcome", e->blessed() ? "blessed" : "not_blessed"}})
        .Increment();
    m.seconds.Observe(std::chrono::duration<double>(
                          std::chrono::steady_clock::now() - started)
                          .count());
  } else {
    const auto code = e.status().code();
    const bool invalid = code == absl::StatusCode::kInvalidArgument ||
                         code == absl::StatusCode::kFailedPrecondition ||
                         code == absl::StatusCode::kNotFound;
    m.evaluations.Add({{"outcome", invalid ? "invalid" : "failed"}})
        .Increment();
  }
  return e;
}

struct Evaluator::Subject {
  std::vector<v1::ModelArtifact> artifacts;  // Candidates, then the baseline.
  bool has_baseline = false;
  std::string split_id;
  v1::Split split;
  std::string part;
  int part_index = -1;
  std::vector<uint8_t> assignment;  // Every row's part.
  std::vector<Scored> scored;       // One per artifact.
  std::vector<eval::SliceColumn> columns;
};

absl::StatusOr<v1::Evaluation> Evaluator::RunOnce(const v1::EvaluateRequest& r,
                                                  ops::Progress& progress) {
  const std::string id = progress.operation_id();
  // Run again after a crash between commit and the operation's end: the
  // stored evaluation is the answer.
  if (auto stored = Get(id); stored.ok()) return stored;
  if (absl::Status s = CheckRequest(r); !s.ok()) return s;
  progress.Update(0, 0, "loading models");
  Subject subject;
  if (absl::Status s = LoadModels(r, &subject); !s.ok()) return s;
  if (absl::Status s = ResolvePart(r, &subject); !s.ok()) return s;
  if (absl::Status s = ReadSliceColumns(r, &subject); !s.ok()) return s;
  if (absl::Status s = ScoreModels(r, progress, &subject); !s.ok()) return s;
  const std::vector<Scored>& scored = subject.scored;
  std::vector<Scored> candidates(scored.begin(),
                                 scored.begin() + r.models_size());
  progress.Update(0, 0, "metrics, slices and bootstrap intervals");
  auto e = EvaluateModels(
      r, candidates, subject.has_baseline ? &scored.back() : nullptr,
      subject.columns, options_.threads, [&](int64_t done, int64_t total) {
        progress.Update(done, total, "bootstrap resamples");
      });
  if (!e.ok()) return e.status();
  e->set_id(id);
  e->set_split(subject.split_id);
  e->set_part(subject.part);
  e->set_feature_set(subject.artifacts.front().feature_set());
  e->set_created_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  if (absl::Status s = Commit(*e); !s.ok()) return s;
  const size_t models = subject.artifacts.size();
  progress.Update(models, models, "done");
  return e;
}

namespace {

// The artifact, once its hash, (with verification keys) its signature and
// its version (when `requested` names one) check out.
absl::StatusOr<v1::ModelArtifact> CheckedModel(v1::ModelArtifact a,
                                               const std::string& requested) {
  if (auto s = ml::CheckArtifactFor(a, requested); !s.ok()) return s;
  return a;
}

}  // namespace

absl::Status Evaluator::LoadModels(const v1::EvaluateRequest& r, Subject* s) {
  for (int i = 0; i < r.models_size(); ++i) {
    auto a = sources_->GetModel(r.models(i));
    if (a.ok()) a = CheckedModel(*std::move(a), r.models(i));
    if (!a.ok()) return Named(a.status(), StrCat("models[", i, "]"));
    s->artifacts.push_back(std::move(*a));
  }
  s->has_baseline = !r.baseline_model().empty();
  if (s->has_baseline) {
    auto a = sources_->GetModel(r.baseline_model());
    if (a.ok()) a = CheckedModel(*std::move(a), r.baseline_model());
    if (!a.ok()) return Named(a.status(), "baseline_model");
    s->artifacts.push_back(std::move(*a));
  }
  return absl::OkStatus();
}

absl::Status Evaluator::ResolvePart(const v1::EvaluateRequest& r, Subject* s) {
  const auto& artifacts = s->artifacts;
  s->split_id = r.split().empty() ? artifacts.front().split_id() : r.split();
  const std::string& split_id = s->split_id;
  if (split_id.empty()) {
    return absl::FailedPreconditionError(StrCat(
        "split: ", artifacts.front().id(), " records no split; name one"));
  }
  auto got = sources_->GetSplit(split_id);
  if (!got.ok()) return Named(got.status(), "split");
  s->split = std::move(*got);
  const v1::Split& split = s->split;
  auto part_named = [&](const std::string& name) {
    for (int i = 0; i < split.parts_size(); ++i) {
      if (split.parts(i).name() == name) return i;
    }
    return -1;
  };
  s->part = r.part();
  if (s->part.empty()) s->part = part_named("test") >= 0 ? "test" : "eval";
  s->part_index = part_named(s->part);
  if (s->part_index < 0) {
    std::string names;
    for (const auto& p : split.parts())
      StrAppend(&names, names.empty() ? "" : ", ", p.name());
    return absl::InvalidArgumentError(StrCat("part: split ", split_id,
                                             " has no part \"", s->part,
                                             "\" (it has ", names, ")"));
  }
  // Candidates are of the split's dataset version; a baseline may be of an
  // earlier one (the model serving before new data came): it is scored on
  // the part's raw rows through its own transform.
  for (size_t i = 0; i < artifacts.size(); ++i) {
    const auto& a = artifacts[i];
    const bool baseline = s->has_baseline && i + 1 == artifacts.size();
    if (a.dataset() != split.dataset() ||
        (!baseline && a.dataset_version() != split.version())) {
      return absl::FailedPreconditionError(
          StrCat(baseline ? "baseline_model: " : "models: ", a.id(),
                 " was trained on ", a.dataset(), " version ",
                 a.dataset_version(), ", split ", split_id, " is of ",
                 split.dataset(), " version ", split.version()));
    }
  }
  auto chunks = sources_->ReadAssignments(split_id);
  if (!chunks.ok()) return Named(chunks.status(), "split");
  if (absl::Status st = ml::FlattenAssignments(*chunks, split.num_rows(),
                                               &s->assignment, nullptr);
      !st.ok()) {
    return absl::DataLossError(StrCat(split_id, ": ", st.message()));
  }
  return absl::OkStatus();
}

namespace {

std::string FormatBound(double v) { return absl::StrFormat("%.6g", v); }

std::string FormatMicros(double v) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixMicros(static_cast<int64_t>(v)),
                          absl::UTCTimeZone());
}

// One slice column's values on the evaluated part, gathered chunk by
// chunk (only the part's rows are kept).
struct PartValues {
  table::ColumnType type = table::ColumnType::kUnknown;
  std::vector<std::string> text;  // Categories and text.
  std::vector<double> numbers;    // Numbers and timestamps; NaN: missing.

  bool numeric() const {
    return type == table::ColumnType::kNumeric ||
           type == table::ColumnType::kTimestamp;
  }
  // Appends the rows of `c` that `keep` flags.
  void Append(const table::Column& c, const std::vector<uint8_t>& keep) {
    if (type == table::ColumnType::kUnknown) type = c.type;
    for (size_t r = 0; r < c.size(); ++r) {
      if (!keep[r]) continue;
      if (!numeric()) {
        text.push_back(c.IsValid(r) ? c.strings[r] : ml::kMissingText);
      } else if (!c.IsValid(r)) {
        numbers.push_back(std::nan(""));
      } else {
        numbers.push_back(type == table::ColumnType::kNumeric
                              ? c.numbers[r]
                              : static_cast<double>(c.timestamps[r]));
      }
    }
  }
  // As a slice column: numbers in `buckets` ranges.
  absl::StatusOr<eval::SliceColumn> Column(const std::string& name,
                                           int buckets) && {
    if (buckets > 0 && !numeric()) {
      return absl::InvalidArgumentError(
          StrCat("slices: buckets cut numbers and timestamps; ", name, " is ",
                 table::ColumnTypeName(type)));
    }
    if (!numeric()) return eval::SliceColumn{name, std::move(text), {}};
    return eval::NumericSliceColumn(
        name, numbers, buckets,
        type == table::ColumnType::kNumeric ? &FormatBound : &FormatMicros);
  }
};

}  // namespace

absl::Status Evaluator::ReadSliceColumns(const v1::EvaluateRequest& r,
                                         Subject* s) {
  std::vector<std::string> names;
  std::map<std::string, int> buckets;
  for (const auto& sl : r.slices()) {
    for (const auto& c : sl.columns()) {
      AddUnique(&names, c);
      buckets[c] = sl.buckets();
    }
  }
  if (names.empty()) return absl::OkStatus();
  auto reader =
      sources_->ReadDataset(s->split.dataset(), s->split.version(), names);
  if (!reader.ok()) return Named(reader.status(), "slices");
  // Raw rows come in the split's order: row i is assigned assignment[i].
  std::vector<PartValues> values(names.size());
  size_t row = 0;
  v1::Frame frame;
  while (true) {
    auto more = (*reader)->Next(&frame);
    if (!more.ok()) return Named(more.status(), "slices");
    if (!*more) break;
    auto t = table::TableFromFrame(std::move(frame));
    if (!t.ok()) return Named(t.status(), "slices");
    std::vector<uint8_t> keep(t->num_rows);
    for (size_t i = 0; i < t->num_rows; ++i, ++row) {
      keep[i] = row < s->assignment.size() &&
                s->assignment[row] == static_cast<uint8_t>(s->part_index);
    }
    for (size_t n = 0; n < names.size(); ++n) {
      const int i = t->Find(names[n]);
      if (i < 0) {
        return absl::InvalidArgumentError(
            StrCat("slices: dataset ", s->split.dataset(), " has no column \"",
                   names[n], "\""));
      }
      values[n].Append(t->columns[i], keep);
    }
  }
  for (size_t n = 0; n < names.size(); ++n) {
    auto c = std::move(values[n]).Column(names[n], buckets[names[n]]);
    if (!c.ok()) return c.status();
    s->columns.push_back(*std::move(c));
  }
  return absl::OkStatus();
}

absl::Status Evaluator::ScoreModels(const v1::EvaluateRequest& r,
                                    ops::Progress& progress, Subject* s) {
  const auto& artifacts = s->artifacts;
  // Each model on its feature set's rows of the part; models that share a
  // feature set share one read.
  s->scored.resize(artifacts.size());
  std::map<std::string, ml::PartRows> rows_by_fs;
  for (size_t i = 0; i < artifacts.size(); ++i) {
    if (progress.Cancelled())
      return absl::CancelledError("evaluation cancelled");
    const auto& a = artifacts[i];
    const std::string where = i < static_cast<size_t>(r.models_size())
                                  ? StrCat("models[", i, "]")
                                  : "baseline_model";
    progress.Update(i, artifacts.size(), StrCat("scoring ", a.id()));
    // A model of another dataset version reads the split's raw rows through
    // its own transform.
    const bool raw = a.dataset_version() != s->split.version();
    std::string key = raw ? StrCat("raw:", a.id()) : a.feature_set();
    for (const auto& f : a.feature_names()) StrAppend(&key, "|", f);
    auto found = rows_by_fs.find(key);
    if (found == rows_by_fs.end()) {
      auto read = ReadPartRows(a, *s, raw);
      if (!read.ok()) return Named(read.status(), where);
      found = rows_by_fs.emplace(key, std::move(*read)).first;
    }
    const ml::PartRows& rows = found->second;
    auto model = ml::LoadModel(a.task(), a.feature_names_size(),
                               a.classes_size(), a.learned());
    if (!model.ok()) return Named(model.status(), StrCat(where, " ", a.id()));
    auto p = eval::Predict(**model, rows.data, options_.threads);
    if (!p.ok()) return Named(p.status(), StrCat(where, " ", a.id()));
    p->classes.assign(a.classes().begin(), a.classes().end());
    s->scored[i] = Scored{a.id(), a.algorithm(), a.candidate(), std::move(*p)};
  }
  return absl::OkStatus();
}

absl::StatusOr<ml::PartRows> Evaluator::ReadPartRows(const v1::ModelArtifact& a,
                                                     const Subject& s,
                                                     bool raw) {
  ml::PartRowsSpec spec;
  spec.assignment = &s.assignment;
  spec.parts = {s.part_index};
  spec.reserve = {static_cast<size_t>(s.split.parts(s.part_index).rows())};
  spec.features.assign(a.feature_names().begin(), a.feature_names().end());
  spec.label = a.label();
  std::vector<std::string> wanted = spec.features;
  AddUnique(&wanted, a.label());
  v1::ReadFeaturesRequest req;
  req.set_feature_set(a.feature_set());
  *req.mutable_columns() = {wanted.begin(), wanted.end()};
  req.set_max_rows_per_frame(options_.frame_rows);
  auto reader =
      raw ? ReadTransformed(a, s.split, {}) : sources_->ReadFeatures(req);
  if (!reader.ok()) return reader.status();
  auto read = ml::ReadParts(
      **reader, spec,
      ml::LabelEncoder(a.task(), {a.classes().begin(), a.classes().end()}));
  if (!read.ok()) return read.status();
  return std::move((*read)[0]);
}

absl::Status Evaluator::Commit(const v1::Evaluation& e) {
  std::vector<v1::Event> events;
  for (const auto& c : e.candidates()) {
    events.push_back(events::EventLog::Make(
        c.verdict().blessed() ? "model.blessed" : "model.rejected",
        {{"model", c.model()},
         {"evaluation", e.id()},
         {"metric", c.verdict().metric()},
         {"value", StrCat(c.verdict().value())},
         {"baseline", c.verdict().baseline_model()},
         {"best", c.model() == e.best_model() ? "true" : "false"}}));
  }
  storage::WriteBatch batch;
  batch.Put(kEvaluations, e.id(), e.SerializeAsString());
  if (absl::Status s =
          events_->Commit(std::move(batch), std::move(events), {.sync = true});
      !s.ok()) {
    return s;
  }
  for (const auto& c : e.candidates()) {
    Metrics::Get()
        .verdicts
        .Add({{"verdict", c.verdict().blessed() ? "blessed" : "rejected"}})
        .Increment();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<table::FrameReader>> Evaluator::ReadTransformed(
    const v1::ModelArtifact& model, const v1::Split& split,
    const std::vector<std::string>& keep) {
  // A stored model's transform: checked before it writes anywhere.
  if (auto s = features::CheckFitted(model.transform()); !s.ok()) {
    return absl::DataLossError(StrCat("model ", model.id(), ": ", s.message()));
  }
  // The raw columns: what the transform reads, the label, the slices.
  std::vector<std::string> columns;
  for (const auto& c : model.transform().columns())
    AddUnique(&columns, c.input());
  std::vector<std::string> passed = keep;
  AddUnique(&passed, model.label());
  for (const auto& c : passed) AddUnique(&columns, c);
  auto raw = sources_->ReadDataset(split.dataset(), split.version(), columns);
  if (!raw.ok()) return raw.status();
  return std::unique_ptr<table::FrameReader>(new TransformingReader(
      std::move(*raw), features::TransformApplier(model.transform()),
      std::move(passed)));
}

}  // namespace mlpipe::evaluate
