#include "services/score/batch_scorer.h"

#include <cmath>

#include "absl/time/clock.h"
#include "common/ml/artifact.h"
#include "common/ml/data.h"
#include "common/storage/key_codec.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "services/score/score_metrics.h"

namespace mlpipe::score {
namespace {

using google::protobuf::util::TimeUtil;

std::string ResultPrefix(const std::string& id) {
  return StrCat(id, std::string_view("\0", 1));
}

std::string ResultKey(const std::string& id, int64_t chunk) {
  std::string key = ResultPrefix(id);
  storage::AppendU64(&key, static_cast<uint64_t>(chunk));
  return key;
}

table::Column NumberColumn(std::string name, std::vector<double> values) {
  table::Column c;
  c.name = std::move(name);
  c.type = table::ColumnType::kNumeric;
  c.valid.Resize(values.size(), true);
  c.numbers = std::move(values);
  return c;
}

// Predicts the rows of `x` in row blocks on `threads` threads, in order.
absl::Status PredictRows(const serving::Servable& s, ml::MatrixView x,
                         int threads, std::vector<double>* scores) {
  std::vector<std::vector<double>> parts(threads);
  std::vector<absl::Status> errors(threads);
  int used =
      ml::ParallelFor(x.rows, threads, [&](size_t b, size_t e, int part) {
        errors[part] = s.model().Predict(x.Rows(b, e), &parts[part]);
      });
  scores->reserve(x.rows * s.width());
  for (int p = 0; p < used; ++p) {
    if (!errors[p].ok()) return errors[p];
    scores->insert(scores->end(), parts[p].begin(), parts[p].end());
  }
  return absl::OkStatus();
}

// A chunk's results: the kept columns (moved out of `t`), then predictions.
absl::StatusOr<table::Table> ResultTable(
    const v1::StartBatchScoringRequest& request, const std::string& source,
    const serving::Servable& s, const std::vector<double>& scores,
    table::Table* t) {
  table::Table out;
  out.num_rows = t->num_rows;
  for (const auto& k : request.keep_columns()) {
    int c = t->Find(k);
    if (c < 0) {
      return absl::InvalidArgumentError(
          StrCat("keep_columns: '", k, "' is not a column of ", source));
    }
    out.columns.push_back(std::move(t->columns[c]));
  }
  for (auto& c : PredictionColumns(s, scores, t->num_rows))
    out.columns.push_back(std::move(c));
  return out;
}

}  // namespace

std::vector<table::Column> PredictionColumns(const serving::Servable& s,
                                             const std::vector<double>& scores,
                                             size_t rows) {
  std::vector<table::Column> out;
  const int w = s.width();
  const auto& a = s.summary();
  if (a.task() == v1::BINARY || a.task() == v1::MULTICLASS) {
    table::Column label;
    label.name = "label";
    label.type = table::ColumnType::kCategorical;
    label.strings.reserve(rows);
    for (size_t r = 0; r < rows; ++r)
      label.strings.push_back(s.Label(scores.data() + r * w));
    label.valid.Resize(rows, true);
    out.push_back(std::move(label));
    for (int k = 0; k < a.classes_size(); ++k) {
      std::vector<double> p(rows);
      for (size_t r = 0; r < rows; ++r) {
        p[r] = a.task() == v1::BINARY ? (k == 1 ? scores[r] : 1.0 - scores[r])
                                      : scores[r * w + k];
      }
      out.push_back(NumberColumn(StrCat("p_", a.classes(k)), std::move(p)));
    }
  } else {
    out.push_back(NumberColumn(
        a.task() == v1::CLUSTERING ? "cluster" : "prediction",
        std::vector<double>(scores.begin(), scores.begin() + rows)));
  }
  return out;
}

BatchScorer::BatchScorer(BatchScorerOptions options, storage::Store* store,
                         ModelManager* manager, ModelSource* models,
                         BatchSources* sources)
    : options_(options),
      store_(store),
      manager_(manager),
      models_(models),
      sources_(sources) {}

absl::Status BatchScorer::Check(
    const v1::StartBatchScoringRequest& request) const {
  if (request.model().empty())
    return absl::InvalidArgumentError("model: required");
  if (request.dataset().empty() == request.feature_set().empty()) {
    return absl::InvalidArgumentError(
        "dataset, feature_set: give exactly one source of rows");
  }
  if (request.dataset_version() < 0) {
    return absl::InvalidArgumentError("dataset_version: must be >= 0");
  }
  if (!request.feature_set().empty() && request.dataset_version() != 0) {
    return absl::InvalidArgumentError(
        "dataset_version: only with dataset (a feature set has its own)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const serving::Servable>> BatchScorer::Model(
    const std::string& model) const {
  auto state = manager_->Current();
  if (auto it = state->versions.find(model); it != state->versions.end())
    return it->second;
  // A route's name (as Predict takes it): its primary; else a model name:
  // its latest version.
  auto key = state->names.Find(model);
  if (key.ok()) {
    const ServingRoute& route = state->routes.at(*key);
    if (!route.targets.empty()) return route.targets[route.primary];
  } else if (!absl::IsNotFound(key.status())) {
    return key.status();
  }
  auto artifact = models_->GetModel(model);
  if (!artifact.ok()) return artifact.status();
  if (auto c = ml::CheckArtifactFor(*artifact, model); !c.ok()) return c;
  auto s = serving::Servable::Load(*artifact);
  if (!s.ok()) return s.status();
  return std::shared_ptr<const serving::Servable>(*std::move(s));
}

absl::Status BatchScorer::ClearResults(const std::string& id) {
  storage::WriteBatch b;
  b.DeleteRange(kBatchResults, ResultPrefix(id),
                storage::PrefixEnd(ResultPrefix(id)));
  return store_->Write(b);
}

absl::StatusOr<std::unique_ptr<table::FrameReader>> BatchScorer::OpenRows(
    const v1::StartBatchScoringRequest& request, const serving::Servable& s,
    v1::BatchScoring* job) {
  std::unique_ptr<table::FrameReader> reader;
  const bool raw = !request.dataset().empty();
  if (raw) {
    int64_t version = request.dataset_version();
    auto r = sources_->ReadDataset(request.dataset(), &version);
    if (!r.ok()) return r.status();
    reader = std::move(*r);
    job->set_source(StrCat("dataset:", request.dataset(), "@", version));
  } else {
    if (s.summary().feature_set() != request.feature_set()) {
      return absl::FailedPreconditionError(StrCat(
          "feature_set: model ", s.version(), " was trained on feature set ",
          s.summary().feature_set(), ", not ", request.feature_set(),
          " (score a dataset to transform raw rows)"));
    }
    std::vector<std::string> columns(s.summary().feature_names().begin(),
                                     s.summary().feature_names().end());
    for (const auto& c : request.keep_columns()) columns.push_back(c);
    auto r = sources_->ReadFeatures(request.feature_set(), columns);
    if (!r.ok()) return r.status();
    reader = std::move(*r);
    job->set_source(StrCat("feature_set:", request.feature_set()));
  }
  return reader;
}

absl::Status BatchScorer::ScoreRows(const v1::StartBatchScoringRequest& request,
                                    const serving::Servable& s,
                                    table::FrameReader& reader,
                                    ops::Progress& progress,
                                    v1::BatchScoring* job) {
  const bool raw = !request.dataset().empty();
  int64_t rows = 0, chunks = 0;
  v1::Frame frame;
  std::vector<double> x;
  const size_t d = s.num_features();
  while (true) {
    if (progress.Cancelled()) return absl::CancelledError("cancelled");
    frame.Clear();
    auto more = reader.Next(&frame);
    if (!more.ok()) return more.status();
    if (!*more) break;
    auto t = table::TableFromFrame(std::move(frame));
    if (!t.ok()) return t.status();
    const size_t n = t->num_rows;
    if (n == 0) continue;
    if (auto st = s.TableFeatures(
            *t, raw, StrCat(job->source(), " rows ", rows, "+"), &x);
        !st.ok())
      return st;
    std::vector<double> scores;
    if (auto st = PredictRows(s, ml::MatrixView(x.data(), n, d),
                              options_.threads, &scores);
        !st.ok())
      return st;
    auto out = ResultTable(request, job->source(), s, scores, &*t);
    if (!out.ok()) return out.status();
    if (chunks == 0)
      for (const auto& c : out->columns) job->add_columns(c.name);
    v1::Frame result;
    table::TableToFrame(*out, &result);
    result.set_row_offset(rows);
    if (auto st = store_->Put(kBatchResults, ResultKey(job->id(), chunks),
                              result.SerializeAsString());
        !st.ok())
      return st;
    rows += static_cast<int64_t>(n);
    ++chunks;
    Metrics().batch->Add({{"outcome", "ok"}}).Increment(static_cast<double>(n));
    progress.Update(rows, 0, StrCat(rows, " rows scored"));
  }
  job->set_rows(rows);
  job->set_chunks(chunks);
  return absl::OkStatus();
}

absl::StatusOr<v1::BatchScoring> BatchScorer::Run(
    const v1::StartBatchScoringRequest& request, ops::Progress& progress) {
  if (auto s = Check(request); !s.ok()) return s;
  const std::string id = progress.operation_id();
  if (auto done = Get(id); done.ok()) return done;  // Finished before.
  const absl::Time start = absl::Now();
  auto servable = Model(request.model());
  if (!servable.ok()) return servable.status();
  const serving::Servable& s = **servable;
  // A re-run after a crash starts over.
  if (auto st = ClearResults(id); !st.ok()) return st;
  v1::BatchScoring job;
  job.set_id(id);
  job.set_model_version(s.version());
  auto reader = OpenRows(request, s, &job);
  if (!reader.ok()) return reader.status();
  if (auto st = ScoreRows(request, s, **reader, progress, &job); !st.ok())
    return st;
  *job.mutable_created_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(start));
  job.set_seconds(absl::ToDoubleSeconds(absl::Now() - start));
  if (auto st = store_->SyncWal(); !st.ok()) return st;
  if (auto st =
          store_->Put(kBatchJobs, id, job.SerializeAsString(), {.sync = true});
      !st.ok())
    return st;
  return job;
}

absl::StatusOr<v1::BatchScoring> BatchScorer::Get(const std::string& id) const {
  auto raw = store_->Get(kBatchJobs, id);
  if (absl::IsNotFound(raw.status()))
    return absl::NotFoundError(StrCat("batch scoring '", id, "' not found"));
  if (!raw.ok()) return raw.status();
  v1::BatchScoring j;
  if (!j.ParseFromString(*raw))
    return absl::DataLossError(StrCat("batch scoring '", id, "' is corrupt"));
  return j;
}

absl::StatusOr<std::vector<v1::BatchScoring>> BatchScorer::List(
    int limit) const {
  std::vector<v1::BatchScoring> all;
  auto it = store_->Scan(kBatchJobs, "");
  for (; it->Valid(); it->Next()) {
    v1::BatchScoring j;
    if (!j.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size())))
      return absl::DataLossError("a batch scoring record is corrupt");
    all.push_back(std::move(j));
  }
  if (!it->status().ok()) return it->status();
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return TimeUtil::TimestampToMicroseconds(a.created_at()) >
           TimeUtil::TimestampToMicroseconds(b.created_at());
  });
  if (static_cast<int>(all.size()) > limit) all.resize(limit);
  return all;
}

namespace {

class StoredFrames final : public table::FrameReader {
 public:
  StoredFrames(const storage::Store* store, std::string id)
      : it_(store->Scan(kBatchResults, ResultPrefix(id))), id_(std::move(id)) {}
  absl::StatusOr<bool> Next(v1::Frame* frame) override {
    if (!it_->Valid()) {
      if (!it_->status().ok()) return it_->status();
      return false;
    }
    if (!frame->ParseFromArray(it_->value().data(),
                               static_cast<int>(it_->value().size()))) {
      return absl::DataLossError(
          StrCat("batch scoring '", id_, "': a result chunk is corrupt"));
    }
    it_->Next();
    return true;
  }

 private:
  std::unique_ptr<storage::Iterator> it_;
  std::string id_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<table::FrameReader>> BatchScorer::Read(
    const std::string& id) const {
  if (auto j = Get(id); !j.ok()) return j.status();
  return std::unique_ptr<table::FrameReader>(new StoredFrames(store_, id));
}

}  // namespace mlpipe::score
