// The evaluator on a real RocksDB store with real fitted models; the rows
// and models come from in-memory sources (the data services are not under
// test here; the service tests run them for real).
#include "services/evaluate/evaluator.h"

#include <cstdio>
#include <random>

#include "common/eval/metrics.h"
#include "common/features/transform.h"
#include "common/ml/artifact.h"
#include "common/ml/model.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/model.pb.h"
#include "mlpipe/v1/prep_service.pb.h"

namespace mlpipe::evaluate {
namespace {

using ::testing::HasSubstr;

constexpr int kRows = 3000;

class Rows final : public table::FrameReader {
 public:
  explicit Rows(std::vector<v1::Frame> frames) : frames_(std::move(frames)) {}
  explicit Rows(v1::Frame frame) { frames_.push_back(std::move(frame)); }
  absl::StatusOr<bool> Next(v1::Frame* frame) override {
    if (next_ == frames_.size()) return false;
    *frame = frames_[next_++];
    return true;
  }

 private:
  std::vector<v1::Frame> frames_;
  size_t next_ = 0;
};

// A dataset of kRows rows: x1 carries the label, x2 less so, home is a
// slice column; parts train / eval / test by row % 3.
class Sources final : public EvaluateSources {
 public:
  Sources() {
    std::mt19937_64 rng(4);
    std::normal_distribution<double> g(0, 1);
    table::Column x1{.name = "x1", .type = table::ColumnType::kNumeric};
    table::Column x2{.name = "x2", .type = table::ColumnType::kNumeric};
    table::Column y{.name = "y", .type = table::ColumnType::kCategorical};
    table::Column home{.name = "home", .type = table::ColumnType::kCategorical};
    for (int i = 0; i < kRows; ++i) {
      const bool yes = g(rng) > 0.5;
      x1.numbers.push_back(2.0 * yes + g(rng));
      x2.numbers.push_back(0.3 * yes + g(rng));
      y.strings.push_back(yes ? "yes" : "no");
      home.strings.push_back(i % 4 == 0 ? "rent" : "own");
      for (auto* c : {&x1, &x2, &y, &home}) c->valid.PushBack(true);
      assignment_.push_back(i % 3);
    }
    table_.num_rows = kRows;
    table_.columns = {x1, x2, y, home};
    split_.set_id("sp-1");
    split_.set_dataset("credit");
    split_.set_version(1);
    split_.set_num_rows(kRows);
    for (const char* p : {"train", "eval", "test"}) {
      auto* part = split_.add_parts();
      part->set_name(p);
      part->set_rows(kRows / 3);
    }
    // Two models: on x1 and x2 (strong), on x2 alone (weak).
    AddModel("credit:1", {"x2"});
    AddModel("credit:2", {"x1", "x2"});
    AddEarlierModel();
  }

  // The raw rows (the same values as the features here).
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
      const std::string& dataset, int64_t version,
      const std::vector<std::string>& columns) override {
    if (dataset != "credit" || version != 1)
      return absl::NotFoundError(StrCat(dataset, " version ", version));
    ++raw_reads;
    for (const auto& name : columns) {
      if (table_.Find(name) < 0) {
        return absl::InvalidArgumentError(StrCat(
            "columns: dataset ", dataset, " has no column '", name, "'"));
      }
    }
    // In frames of 250 rows, numbered from 0 within each (as batches are):
    // the reader must number rows across them.
    std::vector<v1::Frame> frames;
    for (size_t begin = 0; begin < table_.num_rows; begin += 250) {
      table::Table t;
      t.num_rows = std::min<size_t>(250, table_.num_rows - begin);
      for (const auto& name : columns) {
        const auto& c = table_.columns[table_.Find(name)];
        table::Column part{.name = c.name, .type = c.type};
        for (size_t r = begin; r < begin + t.num_rows; ++r) {
          if (c.type == table::ColumnType::kNumeric) {
            part.numbers.push_back(c.numbers[r] + raw_offset[c.name]);
          } else {
            part.strings.push_back(c.strings[r]);
          }
          part.valid.PushBack(true);
        }
        t.columns.push_back(std::move(part));
      }
      frames.emplace_back();
      table::TableToFrame(t, &frames.back());
    }
    return std::unique_ptr<table::FrameReader>(new Rows(std::move(frames)));
  }
  int raw_reads = 0;
  // Added to a raw column's values (as if a transform made the feature).
  std::map<std::string, double> raw_offset;

  absl::StatusOr<v1::ModelArtifact> GetModel(const std::string& m) override {
    auto it = models_.find(m);
    if (it == models_.end())
      return absl::NotFoundError(StrCat("model '", m, "' not found"));
    // As the train service stores it: hashed (the evaluator checks).
    v1::ModelArtifact a = it->second;
    a.set_sha256(ml::ArtifactHash(a));
    return a;
  }
  absl::StatusOr<v1::Split> GetSplit(const std::string& id) override {
    if (id != split_.id())
      return absl::NotFoundError(StrCat("split '", id, "' not found"));
    return split_;
  }
  absl::StatusOr<std::vector<v1::SplitAssignments>> ReadAssignments(
      const std::string&) override {
    v1::SplitAssignments a;
    a.set_parts(std::string(assignment_.begin(), assignment_.end()));
    return std::vector<v1::SplitAssignments>{a};
  }
  absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
      const v1::ReadFeaturesRequest& req) override {
    table::Table t;
    t.num_rows = table_.num_rows;
    for (const auto& name : req.columns()) {
      int i = table_.Find(name);
      if (i < 0) {
        return absl::InvalidArgumentError(
            StrCat("columns: feature set ", req.feature_set(),
                   " has no column '", name, "'"));
      }
      t.columns.push_back(table_.columns[i]);
    }
    v1::Frame frame;
    table::TableToFrame(t, &frame);
    return std::unique_ptr<table::FrameReader>(new Rows(std::move(frame)));
  }

  std::map<std::string, v1::ModelArtifact> models_;

 private:
  // A logistic regression fitted to `data`, as the artifact of model `id`
  // of dataset version `version` (features named `names`).
  v1::ModelArtifact Fitted(const std::string& id, const ml::TrainingData& data,
                           const std::vector<std::string>& names,
                           int64_t version) {
    ml::FitOptions o;
    o.task = v1::BINARY;
    o.threads = 1;
    auto model = ml::Fit("logistic_regression", {}, "params", data, o);
    EXPECT_TRUE(model.ok()) << model.status();
    v1::ModelArtifact a;
    a.set_id(id);
    a.set_algorithm("logistic_regression");
    a.set_candidate("logreg");
    a.set_task(v1::BINARY);
    for (const auto& f : names) a.add_feature_names(f);
    a.set_label("y");
    a.add_classes("no");
    a.add_classes("yes");
    if (model.ok()) *a.mutable_learned() = (*model)->Parameters();
    a.set_split_id(StrCat("sp-", version));
    a.set_feature_set(StrCat("fs-", version));
    a.set_dataset("credit");
    a.set_dataset_version(version);
    return a;
  }

  void AddModel(const std::string& id, std::vector<std::string> features) {
    ml::TrainingData train;
    train.num_classes = 2;
    train.x.cols = features.size();
    for (size_t r = 0; r < table_.num_rows; ++r) {
      if (assignment_[r] != 0) continue;
      for (const auto& f : features)
        train.x.values.push_back(table_.columns[table_.Find(f)].numbers[r]);
      train.y.push_back(table_.columns[2].strings[r] == "yes");
      ++train.x.rows;
    }
    models_[id] = Fitted(id, train, features, 1);
  }

  // "credit:0": trained on version 0 of the dataset with its own transform
  // (x1 and x2 standardized), as the model serving before new data came.
  void AddEarlierModel() {
    google::protobuf::ListValue list;
    auto* spec = list.add_values()->mutable_struct_value()->mutable_fields();
    auto* cols = (*spec)["columns"].mutable_list_value();
    cols->add_values()->set_string_value("x1");
    cols->add_values()->set_string_value("x2");
    (*spec)["scale"].set_string_value("standard");
    auto specs = features::ParseTransformSpecs(list);
    ASSERT_TRUE(specs.ok()) << specs.status();
    table::Table train;
    for (const char* c : {"x1", "x2"})
      train.columns.push_back(table_.columns[table_.Find(c)]);
    train.num_rows = table_.num_rows;
    auto fitted = features::FitTransform(*specs, train);
    ASSERT_TRUE(fitted.ok()) << fitted.status();
    features::TransformApplier applier(*fitted);
    auto x = applier.ApplyBatch(train);
    ASSERT_TRUE(x.ok()) << x.status();
    ml::TrainingData data;
    data.num_classes = 2;
    data.x.cols = applier.output_names().size();
    for (size_t r = 0; r < table_.num_rows; ++r) {
      for (const auto& c : x->columns) data.x.values.push_back(c.numbers[r]);
      data.y.push_back(table_.columns[2].strings[r] == "yes");
      ++data.x.rows;
    }
    v1::ModelArtifact a =
        Fitted("credit:0", data, applier.output_names(), /*version=*/0);
    *a.mutable_transform() = *fitted;
    models_["credit:0"] = a;
    v1::ModelArtifact other = a;
    other.set_id("loans:0");
    other.set_dataset("loans");
    models_["loans:0"] = other;
  }

  table::Table table_;
  std::vector<uint8_t> assignment_;
  v1::Split split_;
};

class FixedProgress final : public ops::Progress {
 public:
  explicit FixedProgress(std::string id) : id_(std::move(id)) {}
  bool Cancelled() const override { return false; }
  void Update(int64_t, int64_t, const std::string&, double) override {}
  std::string operation_id() const override { return id_; }

 private:
  std::string id_;
};

class EvaluatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenRocksStore(dir_.path() + "/db",
                                         Evaluator::StorageOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto events = events::EventLog::Open(store_.get(), "evaluate");
    ASSERT_TRUE(events.ok());
    events_ = std::move(*events);
    evaluator_ = std::make_unique<Evaluator>(EvaluatorOptions(), store_.get(),
                                             events_.get(), &sources_);
  }

  absl::StatusOr<v1::Evaluation> Evaluate(const v1::EvaluateRequest& r,
                                          const std::string& id) {
    FixedProgress progress(id);
    return evaluator_->Run(r, progress);
  }

  testing::TempDir dir_;
  Sources sources_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> events_;
  std::unique_ptr<Evaluator> evaluator_;
};

TEST_F(EvaluatorTest, CandidateAgainstTheBaselineStoredWithEvents) {
  v1::EvaluateRequest r;
  r.add_models("credit:2");
  r.set_baseline_model("credit:1");
  r.set_baseline_alias("production");
  r.add_slices()->add_columns("home");
  r.set_bootstrap_resamples(20);
  auto e = Evaluate(r, "evaluate-op-01");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->id(), "evaluate-op-01");
  EXPECT_EQ(e->part(), "test");  // The split has one: the default.
  EXPECT_EQ(e->candidates(0).metrics().rows(), kRows / 3);
  EXPECT_GT(eval::Find(e->candidates(0).metrics().metrics(), "auc"),
            eval::Find(e->baseline().metrics().metrics(), "auc") + 0.1);
  EXPECT_TRUE(e->candidates(0).verdict().blessed());
  EXPECT_EQ(e->best_model(), "credit:2");
  EXPECT_TRUE(e->blessed());
  ASSERT_EQ(e->candidates(0).slices_size(), 2);
  EXPECT_EQ(e->candidates(0).slices(0).key(0).value(), "own");
  EXPECT_EQ(e->candidates(0).slices(1).rows(), kRows / 3 / 4);
  // Stored, listed, and the operation re-run returns it unchanged.
  auto got = evaluator_->Get("evaluate-op-01");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->SerializeAsString(), e->SerializeAsString());
  auto again = Evaluate(r, "evaluate-op-01");
  EXPECT_EQ(again->created_unix_ms(), e->created_unix_ms());
  auto listed = evaluator_->List("credit:1", 10);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].candidates(0).metrics().roc().x_size(), 0);
  uint64_t next = 0;
  auto events =
      events_->Read(0, {"model.blessed", "model.rejected"}, 10, &next);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].topic(), "model.blessed");
  // The weak model against the strong one as baseline: rejected.
  r.set_models(0, "credit:1");
  r.set_baseline_model("credit:2");
  e = Evaluate(r, "evaluate-op-02");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_FALSE(e->blessed());
  EXPECT_LT(e->candidates(0).verdict().improvement(), 0);
  events = events_->Read(next, {"model.rejected"}, 10, &next);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ(evaluator_->List("", 10)->front().id(), "evaluate-op-02");
  // A model's name lists its versions' evaluations (as models list --name
  // does); a name that is only a prefix of another does not.
  EXPECT_EQ(evaluator_->List("credit", 10)->size(), 2u);
  EXPECT_EQ(evaluator_->List("credit:2", 10)->size(), 2u);
  EXPECT_EQ(evaluator_->List("cred", 10)->size(), 0u);
}

TEST_F(EvaluatorTest, ABaselineOfAnEarlierDatasetVersionUsesItsOwnTransform) {
  v1::EvaluateRequest r;
  r.add_models("credit:2");
  r.set_baseline_model("credit:0");  // Trained on version 0; the split: 1.
  r.add_slices()->add_columns("home");
  r.set_bootstrap_resamples(20);
  auto e = Evaluate(r, "evaluate-op-03");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(sources_.raw_reads, 2);  // The baseline's rows, the slices'.
  EXPECT_EQ(e->baseline().metrics().rows(), kRows / 3);
  // Both use x1 and x2: comparable, well above chance.
  EXPECT_GT(eval::Find(e->baseline().metrics().metrics(), "auc"), 0.8);
  EXPECT_NEAR(eval::Find(e->baseline().metrics().metrics(), "auc"),
              eval::Find(e->candidates(0).metrics().metrics(), "auc"), 0.02);
  // A baseline of another dataset cannot be compared.
  r.set_baseline_model("loans:0");
  EXPECT_THAT(Evaluate(r, "evaluate-op-04").status().ToString(),
              HasSubstr("baseline_model: loans:0 was trained on loans"));
}

// Slices are of the dataset's raw values, not of the transformed features
// (here the raw x1 is the feature plus 1000), numbers in quantile ranges of
// the evaluated part.
TEST_F(EvaluatorTest, SlicesAreOfRawValuesWithNumbersInQuantileRanges) {
  sources_.raw_offset["x1"] = 1000;
  v1::EvaluateRequest r;
  r.add_models("credit:2");
  auto* by_x1 = r.add_slices();
  by_x1->add_columns("x1");
  by_x1->set_buckets(4);
  r.add_slices()->add_columns("home");
  r.set_bootstrap_resamples(20);
  auto e = Evaluate(r, "evaluate-op-s");
  ASSERT_TRUE(e.ok()) << e.status();
  std::vector<std::string> labels;
  int64_t rows = 0;
  for (const auto& s : e->candidates(0).slices()) {
    if (s.key(0).column() != "x1") continue;
    labels.push_back(s.key(0).value());
    rows += s.rows();
    EXPECT_NEAR(static_cast<double>(s.rows()), kRows / 3 / 4.0, 1.0);
  }
  ASSERT_EQ(labels.size(), 4u);
  EXPECT_EQ(rows, kRows / 3);
  // Ranges of raw values, in order, the last closed.
  double previous = -1;
  for (size_t i = 0; i < labels.size(); ++i) {
    double lo = 0, hi = 0;
    ASSERT_EQ(std::sscanf(labels[i].c_str(), "[%lf, %lf", &lo, &hi), 2)
        << labels[i];
    EXPECT_GT(lo, 990) << labels[i];
    EXPECT_GT(hi, lo);
    EXPECT_GT(lo, previous);
    previous = lo;
    EXPECT_EQ(labels[i].back(), i + 1 == labels.size() ? ']' : ')');
  }
  // A category column slices by its values; buckets do not apply to it.
  int homes = 0;
  for (const auto& s : e->candidates(0).slices())
    homes += s.key(0).column() == "home";
  EXPECT_GE(homes, 2);
  r.mutable_slices(1)->set_buckets(3);
  EXPECT_THAT(Evaluate(r, "evaluate-op-t").status().ToString(),
              HasSubstr("slices: buckets cut numbers and timestamps; home is "
                        "categorical"));
}

TEST_F(EvaluatorTest, BadRequestsNameTheFieldAndStoreNothing) {
  v1::EvaluateRequest r;
  r.add_models("credit:9");
  EXPECT_THAT(Evaluate(r, "evaluate-op-a").status().ToString(),
              HasSubstr("models[0]: model 'credit:9' not found"));
  r.set_models(0, "credit:2");
  r.set_part("holdout");
  EXPECT_THAT(
      Evaluate(r, "evaluate-op-b").status().ToString(),
      HasSubstr("part: split sp-1 has no part \"holdout\" (it has train, "
                "eval, test)"));
  r.clear_part();
  r.add_slices()->add_columns("region");
  EXPECT_THAT(Evaluate(r, "evaluate-op-c").status().ToString(),
              HasSubstr("slices: columns: dataset credit has no column "
                        "'region'"));
  r.clear_slices();
  sources_.models_["credit:2"].set_dataset_version(2);
  EXPECT_THAT(Evaluate(r, "evaluate-op-d").status().ToString(),
              HasSubstr("models: credit:2 was trained on credit version 2"));
  EXPECT_TRUE(evaluator_->List("", 10)->empty());
}

}  // namespace
}  // namespace mlpipe::evaluate
