// The scoring domain with real models (fitted here on credit.csv), real
// transforms and RocksDB on disk: features and input errors, routes
// (canary, A/B/n, shadow, rollback, undeploy), the manager's hand-over,
// fallback on error and on time, overload, shadows, the prediction log,
// restore after restart and batch scoring.
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/features/test_data.h"
#include "common/features/transform.h"
#include "common/ml/artifact.h"
#include "common/ml/table_data.h"
#include "common/storage/key_codec.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/score/batch_scorer.h"
#include "services/score/deployments.h"
#include "services/score/inference_service.h"
#include "services/score/predictor.h"
#include "services/score/scoring_service.h"

namespace mlpipe::score {
namespace {

using ::testing::HasSubstr;

constexpr char kTransforms[] = R"([
  {"columns": ["Income", "Assets", "Debt"], "impute": "median", "scale": "standard"},
  {"columns": ["Seniority", "Time", "Age", "Expenses", "Amount", "Price"], "impute": "median", "scale": "standard"},
  {"columns": ["Home", "Marital", "Job", "Records"], "impute": "mode", "one_hot": {"max_categories": 20}}])";

// Credit rows: the raw table, and as request rows.
const table::Table& Credit() {
  static auto* t = new table::Table(features::testdata::Credit());
  return *t;
}

serving::RawRow RowOf(const table::Table& t, size_t r,
                      bool with_label = false) {
  serving::RawRow row;
  for (const auto& c : t.columns) {
    if (c.name == "Status" && !with_label) continue;
    if (!c.IsValid(r)) {
      row[c.name] = std::monostate();
    } else if (c.type == table::ColumnType::kNumeric) {
      row[c.name] = c.numbers[r];
    } else {
      row[c.name] = c.strings[r];
    }
  }
  return row;
}

// A model of credit.csv with its transform, as train would store it.
v1::ModelArtifact Artifact(const std::string& algorithm, int64_t version,
                           const std::string& params_json,
                           const std::string& transforms = kTransforms,
                           const table::Table& data_table = Credit()) {
  google::protobuf::ListValue list;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(transforms, &list).ok());
  auto specs = features::ParseTransformSpecs(list);
  EXPECT_TRUE(specs.ok()) << specs.status();
  auto fitted = features::FitTransform(*specs, data_table);
  EXPECT_TRUE(fitted.ok()) << fitted.status();
  features::TransformApplier applier(*fitted);
  auto x = applier.ApplyBatch(data_table);
  EXPECT_TRUE(x.ok()) << x.status();
  x->columns.push_back(data_table.columns[data_table.Find("Status")]);
  ml::TrainingDataBuilder b(applier.output_names(), "Status",
                            ml::LabelEncoder(v1::BINARY, {"good", "bad"}));
  EXPECT_TRUE(b.Append(*x).ok());
  ml::TrainingData data = b.Finish();
  google::protobuf::Struct params;
  EXPECT_TRUE(
      google::protobuf::util::JsonStringToMessage(params_json, &params).ok());
  ml::FitOptions o;
  o.task = v1::BINARY;
  auto model = ml::Fit(algorithm, params, "params", data, o);
  EXPECT_TRUE(model.ok()) << model.status();
  v1::ModelArtifact a;
  a.set_name("credit");
  a.set_version(version);
  a.set_id(StrCat("credit:", version));
  a.set_algorithm(algorithm);
  a.set_task(v1::BINARY);
  for (const auto& f : applier.output_names()) a.add_feature_names(f);
  a.set_label("Status");
  a.add_classes("good");
  a.add_classes("bad");
  *a.mutable_learned() = (*model)->Parameters();
  *a.mutable_transform() = *fitted;
  a.set_feature_set("fs-credit");
  a.set_sha256(ml::ArtifactHash(a));
  return a;
}

// Models by id, as train serves them; a version can be made slow or broken.
class FakeTrain final : public ModelSource {
 public:
  void Add(v1::ModelArtifact a) {
    std::lock_guard lock(mu_);
    models_[a.id()] = std::move(a);
  }
  absl::StatusOr<v1::ModelArtifact> GetModel(const std::string& id) override {
    std::lock_guard lock(mu_);
    ++calls_;
    auto it = models_.find(id);
    if (it == models_.end()) {
      // A bare name: its latest version.
      const v1::ModelArtifact* best = nullptr;
      for (const auto& [k, a] : models_)
        if (a.name() == id && (!best || a.version() > best->version()))
          best = &a;
      if (best) return *best;
      return absl::NotFoundError(StrCat("model '", id, "' not found"));
    }
    return it->second;
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, v1::ModelArtifact> models_;
  int calls_ = 0;
};

// The registry's routes, compare-and-set as the orchestrator's.
class FakeRegistry final : public AliasRegistry {
 public:
  absl::Status PublishRoute(const v1::Route& route, int64_t expected,
                            const std::string& set_by) override {
    std::lock_guard lock(mu_);
    if (fail) return absl::UnavailableError("registry down");
    auto it = routes.find(route.alias());
    if (it != routes.end() && it->second.revision() != expected)
      return absl::AbortedError("changed meanwhile");
    routes[route.alias()] = route;
    set[route.alias()].push_back(route);
    log.push_back(StrCat(route.alias(), "=", PrimaryOf(route)));
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<v1::Route>> History(
      const std::string& alias) override {
    std::lock_guard lock(mu_);
    if (fail) return absl::UnavailableError("registry down");
    auto it = set.find(alias);
    if (it == set.end()) return absl::NotFoundError("never deployed");
    return RouteHistory(it->second);
  }
  absl::StatusOr<std::vector<v1::Route>> Routes() override {
    std::lock_guard lock(mu_);
    if (fail) return absl::UnavailableError("registry down");
    std::vector<v1::Route> out;
    for (const auto& [alias, r] : routes) out.push_back(r);
    return out;
  }
  std::mutex mu_;
  std::map<std::string, v1::Route> routes;
  std::map<std::string, std::vector<v1::Route>> set;  // In the order set.
  std::vector<std::string> log;
  bool fail = false;
};

// Shared models (fitting GBDT takes a moment).
struct Models {
  v1::ModelArtifact logreg = Artifact("logistic_regression", 1, R"({"C": 1})");
  v1::ModelArtifact gbdt =
      Artifact("gbdt", 2, R"({"rounds": 30, "max_depth": 3, "eta": 0.3})");
};
const Models& M() {
  static auto* m = new Models();
  return *m;
}

// Keeps what the logger writes (the monitor is the real sink, over gRPC).
// A sink that takes what it is sent as a PredictionBatch.
class BatchSink : public PredictionSink {
 public:
  absl::Status Write(std::string_view bytes, size_t) final {
    v1::PredictionBatch batch;
    if (!batch.ParseFromString(std::string(bytes)))
      return absl::InvalidArgumentError("not a PredictionBatch");
    return Take(batch);
  }
  virtual absl::Status Take(const v1::PredictionBatch& batch) = 0;
};

class RecordingSink final : public BatchSink {
 public:
  absl::Status Take(const v1::PredictionBatch& batch) override {
    std::lock_guard lock(mu_);
    for (const auto& r : batch.records()) records_.push_back(r);
    return absl::OkStatus();
  }
  // The newest `limit` records of `model_version`, newest first.
  absl::StatusOr<std::vector<v1::PredictionRecord>> Read(
      const std::string& model_version, size_t limit) const {
    std::lock_guard lock(mu_);
    std::vector<v1::PredictionRecord> out;
    for (auto r = records_.rbegin(); r != records_.rend() && out.size() < limit;
         ++r)
      if (r->model_version() == model_version) out.push_back(*r);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<v1::PredictionRecord> records_;  // GUARDED_BY(mu_)
};

class ScoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    train_.Add(M().logreg);
    train_.Add(M().gbdt);
    OpenAll();
  }
  void OpenAll(bool restore = true) {
    storage::Options o;
    o.column_families = {
        {.name = kRoutes},        {.name = kRouteLog},
        {.name = kBatchJobs},     {.name = kBatchResults},
        {.name = kPredictionLog}, {.name = events::kEventsColumnFamily}};
    auto store = storage::OpenRocksStore(dir_.path() + "/score", o);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    auto log = events::EventLog::Open(store_.get(), "score");
    ASSERT_TRUE(log.ok());
    events_ = std::move(*log);
    manager_ = std::make_unique<ModelManager>(&train_, "production", loader_);
    deployments_ = std::make_unique<Deployments>(store_.get(), events_.get(),
                                                 manager_.get(), &train_,
                                                 &registry_, "production");
    sink_ = std::make_unique<RecordingSink>();
    auto logger = PredictionLogger::Open(
        {}, dir_.path() + "/score-prediction-log", store_.get(), sink_.get());
    ASSERT_TRUE(logger.ok()) << logger.status();
    logger_ = std::move(*logger);
    if (restore) Restore();
  }
  // As the module starts: the stored routes, then the registry's newer ones.
  void Restore() {
    ASSERT_TRUE(deployments_->Restore().ok());
    auto synced = deployments_->Sync();
    ASSERT_TRUE(synced.ok()) << synced.status();
  }
  void CloseAll() {
    logger_.reset();
    sink_.reset();
    deployments_.reset();
    manager_.reset();
    events_.reset();
    store_.reset();
  }
  Predictor MakePredictor(PredictorOptions o = {}) {
    return Predictor(o, manager_.get(), nullptr, logger_.get());
  }
  absl::StatusOr<v1::DeployResponse> Deploy(const std::string& version,
                                            double percent = 0,
                                            bool shadow = false) {
    v1::DeployRequest r;
    r.set_model_version(version);
    r.set_traffic_percent(percent);
    r.set_shadow(shadow);
    return deployments_->Deploy(r);
  }
  PredictInput Rows(size_t begin, size_t n, std::string model = "") {
    PredictInput in;
    in.model = std::move(model);
    for (size_t r = begin; r < begin + n; ++r)
      in.rows.push_back(RowOf(Credit(), r));
    return in;
  }

  testing::TempDir dir_;
  ModelManager::Loader loader_;  // Null: serving::Servable::Load.
  FakeTrain train_;
  FakeRegistry registry_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<events::EventLog> events_;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<Deployments> deployments_;
  std::unique_ptr<RecordingSink> sink_;
  std::unique_ptr<PredictionLogger> logger_;
};

TEST_F(ScoreTest, ServableFeaturesAreTheBatchTransformBitForBit) {
  auto s = serving::Servable::Load(M().gbdt);
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<serving::RawRow> rows;
  for (size_t r = 0; r < Credit().num_rows; ++r)
    rows.push_back(RowOf(Credit(), r));
  std::vector<double> x;
  ASSERT_TRUE((*s)->Features(rows, false, &x).ok());
  features::TransformApplier applier(M().gbdt.transform());
  auto batch = applier.ApplyBatch(Credit());
  ASSERT_TRUE(batch.ok());
  const size_t d = (*s)->num_features();
  for (size_t r = 0; r < Credit().num_rows; ++r) {
    for (size_t j = 0; j < d; ++j) {
      double want = batch->columns[j].IsValid(r) ? batch->columns[j].numbers[r]
                                                 : std::nan("");
      double got = x[r * d + j];
      ASSERT_TRUE(std::memcmp(&want, &got, sizeof(double)) == 0 ||
                  (std::isnan(want) && std::isnan(got)))
          << "row " << r << " feature " << j;
    }
  }
}

TEST_F(ScoreTest, InputErrorsNameEveryField) {
  auto s = serving::Servable::Load(M().logreg);
  ASSERT_TRUE(s.ok());
  serving::RawRow row = RowOf(Credit(), 0);
  row.erase("Income");
  row.erase("Debt");
  row["Age"] = std::string("thirty");
  row["Home"] = 3.0;
  row["Bogus"] = 1.0;
  row["Price"] = std::numeric_limits<double>::infinity();
  std::vector<double> x;
  absl::Status st = (*s)->Features({row}, false, &x);
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  for (const char* part :
       {"rows[0]: missing fields Income, Debt",
        "rows[0].Age: expected a number", "rows[0].Home: expected a string",
        "rows[0].Bogus: unknown field", "rows[0].Price: not a finite number"})
    EXPECT_THAT(std::string(st.message()), HasSubstr(part));
  // Unknown fields may be ignored on request.
  serving::RawRow extra = RowOf(Credit(), 0);
  extra["Bogus"] = 1.0;
  EXPECT_TRUE((*s)->Features({extra}, true, &x).ok());
  // A tampered artifact does not load.
  v1::ModelArtifact bad = M().logreg;
  bad.set_algorithm("gbdt");
  EXPECT_TRUE(absl::IsDataLoss(serving::Servable::Load(bad).status()));
}

TEST_F(ScoreTest, MissingValuesOnlyWhereTheModelTakesThem) {
  // No imputation for Income: a linear model cannot take its missing value,
  // boosted trees can.
  constexpr char kNoImpute[] = R"([
    {"columns": ["Income", "Seniority"], "scale": "standard"},
    {"columns": ["Home"], "impute": "mode", "one_hot": {}}])";
  // Fitted on the rows that have an Income.
  table::Table complete;
  const auto& income = Credit().columns[Credit().Find("Income")];
  for (const auto& c : Credit().columns) {
    table::Column k;
    k.name = c.name;
    k.type = c.type;
    for (size_t r = 0; r < Credit().num_rows; ++r)
      if (income.IsValid(r)) k.AppendRows(c, r, 1);
    complete.columns.push_back(std::move(k));
  }
  complete.num_rows = complete.columns[0].size();
  auto lin = serving::Servable::Load(
      Artifact("logistic_regression", 7, R"({"C": 1})", kNoImpute, complete));
  auto trees = serving::Servable::Load(
      Artifact("gbdt", 8, R"({"rounds": 5})", kNoImpute));
  ASSERT_TRUE(lin.ok() && trees.ok());
  serving::RawRow row = {{"Income", std::monostate()},
                         {"Seniority", 3.0},
                         {"Home", std::string("rent")}};
  std::vector<double> x;
  absl::Status st = (*lin)->Features({row}, false, &x);
  EXPECT_TRUE(absl::IsInvalidArgument(st));
  EXPECT_THAT(std::string(st.message()), HasSubstr("rows[0].Income: missing"));
  EXPECT_TRUE((*trees)->Features({row}, false, &x).ok());
}

TEST(NextRouteTest, CanaryShadowSplitAndFallback) {
  v1::DeployRequest r;
  r.set_alias("production");
  // The first version takes everything, even when asked for a canary.
  r.set_traffic_percent(10);
  auto a = NextRoute(nullptr, r, "m:1");
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->targets_size(), 1);
  EXPECT_EQ(a->targets(0).percent(), 100);
  EXPECT_EQ(a->revision(), 1);
  // A canary beside it.
  auto b = NextRoute(&*a, r, "m:2");
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->targets_size(), 2);
  EXPECT_EQ(b->targets(0).percent(), 90);
  EXPECT_EQ(b->targets(1).percent(), 10);
  EXPECT_EQ(PrimaryOf(*b), "m:1");
  // Promoted: all traffic; the old primary becomes the fallback.
  r.set_traffic_percent(0);
  auto c = NextRoute(&*b, r, "m:2");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->targets_size(), 1);
  EXPECT_EQ(c->fallback(), "m:1");
  EXPECT_EQ(c->revision(), 3);
  // A shadow; not of a version already serving.
  r.set_shadow(true);
  auto d = NextRoute(&*c, r, "m:3");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->shadows(0), "m:3");
  EXPECT_TRUE(absl::IsFailedPrecondition(NextRoute(&*c, r, "m:2").status()));
  EXPECT_TRUE(
      absl::IsFailedPrecondition(NextRoute(nullptr, r, "m:3").status()));
  // A/B/n: shares must sum to 100.
  v1::DeployRequest ab;
  ab.set_alias("production");
  for (auto [v, p] : {std::pair{"m:1", 50.0}, {"m:2", 30.0}, {"m:3", 20.0}}) {
    auto* t = ab.add_traffic();
    t->set_model_version(v);
    t->set_percent(p);
  }
  auto e = NextRoute(&*d, ab, "");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->targets_size(), 3);
  EXPECT_TRUE(e->shadows().empty());  // m:3 now serves.
  ab.mutable_traffic(2)->set_percent(25);
  auto f = NextRoute(&*d, ab, "");
  EXPECT_TRUE(absl::IsInvalidArgument(f.status()));
  EXPECT_THAT(std::string(f.status().message()), HasSubstr("sum to 105"));
  v1::DeployRequest bad;
  bad.set_alias("production");
  bad.set_traffic_percent(150);
  EXPECT_THAT(std::string(NextRoute(&*a, bad, "m:2").status().message()),
              HasSubstr("traffic_percent: 150"));
}

TEST(NextRouteTest, AnExplicitFallbackAndReasonAreRecorded) {
  // What a canary rollout's rollback sets: the primary alone again, with
  // the fallback it had before the rollout, and why.
  v1::Route now;
  now.set_alias("m@production");
  now.set_fallback("m:1");
  for (auto [v, p] : {std::pair{"m:3", 75.0}, {"m:2", 25.0}}) {
    auto* t = now.add_targets();
    t->set_model_version(v);
    t->set_percent(p);
  }
  v1::DeployRequest r;
  r.set_alias("m@production");
  auto* t = r.add_traffic();
  t->set_model_version("m:2");
  t->set_percent(100);
  r.set_reason("rollout of m:3: rolled back: auc: worse than allowed");
  auto implied = NextRoute(&now, r, "");
  ASSERT_TRUE(implied.ok());
  EXPECT_EQ(implied->fallback(), "m:3");  // The primary before: the canary.
  EXPECT_EQ(implied->reason(), r.reason());
  r.set_fallback("m:1");
  auto restored = NextRoute(&now, r, "");
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->fallback(), "m:1");
  r.set_fallback("");
  EXPECT_EQ(NextRoute(&now, r, "")->fallback(), "");
  r.set_fallback("m:2");
  EXPECT_THAT(std::string(NextRoute(&now, r, "").status().message()),
              HasSubstr("fallback: m:2 is the route's primary"));
}

TEST_F(ScoreTest, DeployRoutesRollsBackAndSurvivesRestart) {
  Predictor p = MakePredictor();
  EXPECT_TRUE(absl::IsNotFound(p.Predict(Rows(0, 1)).status()));
  ASSERT_TRUE(Deploy("credit:1").ok());
  auto out = p.Predict(Rows(0, 3));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->servable->version(), "credit:1");
  EXPECT_EQ(out->alias, "credit@production");
  EXPECT_EQ(out->rows(), 3u);
  // A bare name deploys its latest version; the registry follows.
  ASSERT_TRUE(Deploy("credit").ok());
  EXPECT_EQ(registry_.log,
            (std::vector<std::string>{"credit@production=credit:1",
                                      "credit@production=credit:2"}));
  EXPECT_EQ(p.Predict(Rows(0, 1))->servable->version(), "credit:2");
  // Explicit versions: only deployed ones.
  EXPECT_EQ(p.Predict(Rows(0, 1, "credit:1"))->servable->version(),
            "credit:1");  // The fallback is loaded.
  EXPECT_TRUE(absl::IsNotFound(p.Predict(Rows(0, 1, "credit:9")).status()));
  // Deploying the same again changes nothing.
  auto same = Deploy("credit:2");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->route().revision(), 2);
  // Rollback: back to credit:1 (and the registry with it).
  v1::RollbackRequest rb;
  rb.set_reason("test");
  auto back = deployments_->Rollback(rb);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(PrimaryOf(*back), "credit:1");
  EXPECT_EQ(back->revision(), 3);
  EXPECT_EQ(registry_.log.back(), "credit@production=credit:1");
  EXPECT_EQ(p.Predict(Rows(0, 1))->servable->version(), "credit:1");
  // An unknown model fails the deploy and changes nothing.
  EXPECT_TRUE(absl::IsNotFound(Deploy("credit:9").status()));
  // The registry refusing fails the deploy and changes nothing.
  registry_.fail = true;
  EXPECT_TRUE(absl::IsUnavailable(Deploy("credit:2").status()));
  registry_.fail = false;
  EXPECT_EQ(deployments_->List().routes(0).revision(), 3);
  auto history = deployments_->History("production");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 3u);
  // Restart: the routes come back and load before Restore returns.
  CloseAll();
  OpenAll();
  EXPECT_TRUE(deployments_->ready());
  Predictor p2 = MakePredictor();
  EXPECT_EQ(p2.Predict(Rows(0, 1))->servable->version(), "credit:1");
  // Undeploy the last version: the alias is gone.
  v1::UndeployRequest u;
  u.set_model_version("credit:1");
  ASSERT_TRUE(deployments_->Undeploy(u).ok());
  EXPECT_TRUE(absl::IsNotFound(p2.Predict(Rows(0, 1)).status()));
  EXPECT_TRUE(absl::IsNotFound(deployments_->Undeploy(u).status()));
}

// At a start, a request that comes before the stored routes are loaded is
// told to retry (UNAVAILABLE), never that the model does not exist: decided
// by the state the request read, so one that read it before Restore
// published is answered the same however late it looks.
TEST_F(ScoreTest, ARequestBeforeTheRoutesAreLoadedIsToldToRetry) {
  ASSERT_TRUE(Deploy("credit:1").ok());
  CloseAll();
  OpenAll(/*restore=*/false);
  Predictor p = MakePredictor();
  const auto before = manager_->Current();
  EXPECT_TRUE(before->restoring);
  for (const std::string model : {"", "credit", "credit:1", "other"}) {
    auto early = p.Predict(Rows(0, 1, model));
    EXPECT_TRUE(absl::IsUnavailable(early.status())) << model << early.status();
    EXPECT_THAT(std::string(early.status().message()),
                ::testing::HasSubstr("still loading its deployments; retry"));
  }
  // The stored routes serve; a name they lack may still come from the
  // registry until its first sync.
  ASSERT_TRUE(deployments_->Restore().ok());
  EXPECT_EQ(p.Predict(Rows(0, 1))->servable->version(), "credit:1");
  EXPECT_TRUE(manager_->Current()->restoring);
  EXPECT_TRUE(absl::IsUnavailable(p.Predict(Rows(0, 1, "other")).status()));
  ASSERT_TRUE(deployments_->Sync().ok());
  EXPECT_TRUE(before->restoring);  // What an early request holds.
  EXPECT_FALSE(manager_->Current()->restoring);
  EXPECT_EQ(p.Predict(Rows(0, 1))->servable->version(), "credit:1");
  EXPECT_TRUE(absl::IsNotFound(p.Predict(Rows(0, 1, "other")).status()));
  EXPECT_TRUE(absl::IsNotFound(p.Predict(Rows(0, 1, "credit:9")).status()));
  // A restore that could not load a deployed version goes on saying retry
  // for names it does not know (the version may load at the next try).
  CloseAll();
  loader_ = [](const v1::ModelArtifact&)
      -> absl::StatusOr<std::shared_ptr<serving::Servable>> {
    return absl::InternalError("cannot load");
  };
  OpenAll(/*restore=*/false);
  EXPECT_TRUE(absl::IsUnavailable(deployments_->Restore()));
  Predictor p2 = MakePredictor();
  EXPECT_TRUE(manager_->Current()->restoring);
  EXPECT_TRUE(absl::IsUnavailable(p2.Predict(Rows(0, 1, "other")).status()));
  EXPECT_TRUE(absl::IsUnavailable(p2.Predict(Rows(0, 1)).status()));
}

// A second scoring replica: its own store and models, the same registry.
struct Replica {
  Replica(const std::string& dir, FakeTrain* train, AliasRegistry* registry) {
    storage::Options o;
    o.column_families = {{.name = kRoutes},
                         {.name = kRouteLog},
                         {.name = events::kEventsColumnFamily}};
    store = *storage::OpenRocksStore(dir, o);
    events = *events::EventLog::Open(store.get(), "score");
    manager = std::make_unique<ModelManager>(train, "production", nullptr);
    deployments =
        std::make_unique<Deployments>(store.get(), events.get(), manager.get(),
                                      train, registry, "production");
  }
  std::string Serving() {
    auto list = deployments->List();
    return list.routes().empty() ? "" : PrimaryOf(list.routes(0));
  }
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<events::EventLog> events;
  std::unique_ptr<ModelManager> manager;
  std::unique_ptr<Deployments> deployments;
};

TEST_F(ScoreTest, ReplicasShareRoutesThroughTheRegistry) {
  // A replica that starts empty takes what the registry holds; until then
  // a request for it is told to retry, not that there is no such model.
  ASSERT_TRUE(Deploy("credit:1").ok());
  Replica b(dir_.path() + "/b", &train_, &registry_);
  ASSERT_TRUE(b.deployments->Restore().ok());
  EXPECT_EQ(b.Serving(), "");
  Predictor on_b({}, b.manager.get(), nullptr, logger_.get());
  EXPECT_TRUE(absl::IsUnavailable(on_b.Predict(Rows(0, 1)).status()));
  auto synced = b.deployments->Sync();
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_TRUE(*synced);
  EXPECT_EQ(b.Serving(), "credit:1");
  EXPECT_EQ(on_b.Predict(Rows(0, 1))->servable->version(), "credit:1");
  EXPECT_TRUE(absl::IsNotFound(on_b.Predict(Rows(0, 1, "other")).status()));
  EXPECT_FALSE(*b.deployments->Sync());  // Nothing newer.
  // A change through b reaches this replica at its next sync, with the
  // versions loaded and the route history kept.
  v1::DeployRequest canary;
  canary.set_model_version("credit:2");
  canary.set_traffic_percent(10);
  ASSERT_TRUE(b.deployments->Deploy(canary).ok());
  ASSERT_TRUE(*deployments_->Sync());
  auto route = deployments_->List().routes(0);
  EXPECT_EQ(route.revision(), 2);
  ASSERT_EQ(route.targets_size(), 2);
  Predictor p = MakePredictor();
  EXPECT_TRUE(p.Predict(Rows(0, 1, "credit:2")).ok());
  EXPECT_EQ(deployments_->History("production")->size(), 2u);
  // Two replicas changing the alias from the same revision: the second is
  // ABORTED and changes nothing; after a sync it goes through.
  v1::DeployRequest full;
  full.set_model_version("credit:2");
  ASSERT_TRUE(deployments_->Deploy(full).ok());  // Revision 3.
  v1::RollbackRequest rb;
  auto late = b.deployments->Rollback(rb);  // b still at revision 2.
  EXPECT_TRUE(absl::IsAborted(late.status())) << late.status();
  EXPECT_EQ(b.deployments->List().routes(0).revision(), 2);
  ASSERT_TRUE(*b.deployments->Sync());
  EXPECT_EQ(b.Serving(), "credit:2");
  ASSERT_TRUE(b.deployments->Rollback(rb).ok());  // Revision 4.
  ASSERT_TRUE(*deployments_->Sync());
  EXPECT_EQ(deployments_->List().routes(0).revision(), 4);
  // Undeploying through one removes the alias on both; deploying it again
  // goes on from the last revision.
  v1::UndeployRequest u;
  const v1::Route served = deployments_->List().routes(0);
  for (const auto& t : served.targets()) {
    u.set_model_version(t.model_version());
    ASSERT_TRUE(deployments_->Undeploy(u).ok());
  }
  EXPECT_EQ(deployments_->List().routes_size(), 0);
  ASSERT_TRUE(*b.deployments->Sync());
  EXPECT_EQ(b.Serving(), "");
  auto again = b.deployments->Deploy(full);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_GT(again->route().revision(), 4);
  ASSERT_TRUE(*deployments_->Sync());
  EXPECT_EQ(deployments_->List().routes(0).revision(),
            again->route().revision());
}

TEST_F(ScoreTest, AVersionTakingOtherRequestsIsRefusedUnlessForced) {
  // other:1 is credit:2's model where one input field has another name.
  v1::ModelArtifact other = M().gbdt;
  other.set_name("other");
  other.set_version(1);
  other.set_id("other:1");
  for (auto& c : *other.mutable_transform()->mutable_columns())
    if (c.input() == "Income") c.set_input("Salary");
  other.set_sha256(ml::ArtifactHash(other));
  train_.Add(other);
  ASSERT_TRUE(Deploy("credit:2").ok());
  // Into credit's route (an alias of model credit, named as such).
  v1::DeployRequest canary_req;
  canary_req.set_model_version("other:1");
  canary_req.set_alias("credit@production");
  canary_req.set_traffic_percent(50);
  auto canary = deployments_->Deploy(canary_req);
  EXPECT_EQ(canary.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(canary.status().message()),
              HasSubstr("other:1 cannot serve alias 'credit@production' beside "
                        "credit:2: it lacks input fields [Income]; it takes "
                        "other input fields [Salary]"));
  EXPECT_EQ(deployments_->List().routes(0).targets_size(), 1);
  v1::DeployRequest forced = canary_req;
  forced.set_force_schema_change(true);
  EXPECT_TRUE(deployments_->Deploy(forced).ok());
  // Versions of the same schema deploy as ever.
  EXPECT_TRUE(Deploy("credit:1", 10).ok());
}

TEST_F(ScoreTest, RollbacksWalkBackOneRevisionEachAndKeepTheirReason) {
  ASSERT_TRUE(Deploy("credit:1").ok());      // Revision 1.
  ASSERT_TRUE(Deploy("credit:2", 10).ok());  // 2: a 10% canary.
  v1::RollbackRequest rb;
  rb.set_reason("canary errors");
  auto back = deployments_->Rollback(rb);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->revision(), 3);
  EXPECT_EQ(back->restores(), 1);
  ASSERT_EQ(back->targets_size(), 1);
  EXPECT_EQ(PrimaryOf(*back), "credit:1");
  EXPECT_EQ(back->reason(), "canary errors");
  EXPECT_EQ(back->updated_by(), "rollback");
  auto history = deployments_->History("production");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ((*history)[0].reason(), "canary errors");
  // A second rollback does not bring the canary back: nothing is before
  // revision 1.
  auto again = deployments_->Rollback(rb);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(again.status().message()),
              HasSubstr("no revision before revision 1"));
  EXPECT_EQ(PrimaryOf(deployments_->List().routes(0)), "credit:1");
  // A change after a rollback is a revision like any other: rolling back
  // from it goes to the rollback's route.
  ASSERT_TRUE(Deploy("credit:2").ok());  // 4.
  auto from_four = deployments_->Rollback(v1::RollbackRequest());
  ASSERT_TRUE(from_four.ok()) << from_four.status();
  EXPECT_EQ(from_four->restores(), 1);  // Revision 3 served revision 1's.
  EXPECT_EQ(PrimaryOf(*from_four), "credit:1");
  EXPECT_EQ(from_four->reason(), "");
}

TEST_F(ScoreTest, HistoryAndRollbackReadTheRegistrysOneHistory) {
  // b syncs once after two changes made through this replica: it never saw
  // revision 1 being served, yet its history has both, and it rolls back
  // to revision 1 (with a history of its own it had nothing to go back to).
  ASSERT_TRUE(Deploy("credit:1").ok());
  ASSERT_TRUE(Deploy("credit:2").ok());
  Replica b(dir_.path() + "/b", &train_, &registry_);
  ASSERT_TRUE(b.deployments->Restore().ok());
  ASSERT_TRUE(*b.deployments->Sync());
  auto history = b.deployments->History("production");
  ASSERT_TRUE(history.ok()) << history.status();
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ(PrimaryOf((*history)[1]), "credit:1");
  auto back = b.deployments->Rollback(v1::RollbackRequest());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(PrimaryOf(*back), "credit:1");
  EXPECT_EQ(back->revision(), 3);
  // The same history through either replica.
  EXPECT_EQ(deployments_->History("production")->size(), 3u);
  // A change undone after its publish (here: the store refused it) leaves
  // no trace in the history, and the next change takes its revision.
  std::vector<v1::Route> set = {(*history)[1], (*history)[0], *back};
  v1::Route undone = *back;
  undone.set_revision(4);
  set.push_back(undone);
  set.push_back(*back);  // Republished at revision 3 by the undo.
  auto linear = RouteHistory(set);
  ASSERT_EQ(linear.size(), 3u);
  EXPECT_EQ(linear[0].revision(), 3);
  EXPECT_EQ(linear[2].revision(), 1);
  // While the registry is unreachable the history comes from b's cache,
  // which its sync filled with the revisions it did not serve.
  registry_.fail = true;
  auto cached = b.deployments->History("production");
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(cached->size(), 3u);
  registry_.fail = false;
}

TEST_F(ScoreTest, SplitTrafficIsStickyAndWeighted) {
  ASSERT_TRUE(Deploy("credit:1").ok());
  ASSERT_TRUE(Deploy("credit:2", 30).ok());
  Predictor p = MakePredictor();
  std::map<std::string, int> by_version;
  for (int i = 0; i < 2000; ++i) {
    PredictInput in = Rows(0, 1);
    in.routing_key = StrCat("user-", i);
    auto out = p.Predict(in);
    ASSERT_TRUE(out.ok());
    ++by_version[out->servable->version()];
    // Sticky: the same key lands on the same version.
    auto again = p.Predict(in);
    EXPECT_EQ(again->servable->version(), out->servable->version());
  }
  EXPECT_NEAR(by_version["credit:2"] / 2000.0, 0.30, 0.04);
  EXPECT_NEAR(by_version["credit:1"] / 2000.0, 0.70, 0.04);
}

TEST_F(ScoreTest, OldVersionLivesUntilItsLastRequestEnds) {
  ASSERT_TRUE(Deploy("credit:1").ok());
  auto held = manager_->Current();  // As a request holds it.
  std::weak_ptr<const serving::Servable> v1 = held->versions.at("credit:1");
  ASSERT_TRUE(Deploy("credit:2").ok());
  v1::UndeployRequest u;
  u.set_model_version("credit:1");  // Also drops it as the fallback.
  ASSERT_TRUE(deployments_->Undeploy(u).ok());
  EXPECT_FALSE(manager_->Current()->versions.contains("credit:1"));
  EXPECT_FALSE(v1.expired());  // The request still uses it.
  held.reset();
  EXPECT_TRUE(v1.expired());  // Freed with its last request.
}

absl::StatusOr<v1::DeployResponse> DeployTo(Deployments* d,
                                            const std::string& alias,
                                            const std::string& version,
                                            double budget_ms = 0) {
  v1::DeployRequest r;
  r.set_alias(alias);
  r.set_model_version(version);
  if (budget_ms > 0) r.set_latency_budget_ms(budget_ms);
  return d->Deploy(r);
}

TEST_F(ScoreTest, FallbackAnswersWhenTheRoutedVersionFailsOrIsLate) {
  // credit:3 and credit:4 are credit:2's model, failing and slow.
  for (int v : {3, 4}) {
    v1::ModelArtifact a = M().gbdt;
    a.set_version(v);
    a.set_id(StrCat("credit:", v));
    a.set_sha256(ml::ArtifactHash(a));
    train_.Add(a);
  }
  loader_ = [](const v1::ModelArtifact& a)
      -> absl::StatusOr<std::shared_ptr<serving::Servable>> {
    auto m = ml::LoadModel(a.task(), a.feature_names_size(), a.classes_size(),
                           a.learned());
    if (!m.ok()) return m.status();
    if (a.version() < 3) return serving::Servable::Create(a, std::move(*m));
    struct Faulty final : ml::Model {
      std::unique_ptr<ml::Model> inner;
      bool fail;
      v1::Task task() const override { return inner->task(); }
      size_t num_features() const override { return inner->num_features(); }
      int OutputWidth() const override { return inner->OutputWidth(); }
      absl::Status Predict(ml::MatrixView x,
                           std::vector<double>* out) const override {
        if (fail) return absl::InternalError("model exploded");
        absl::SleepFor(absl::Milliseconds(300));
        return inner->Predict(x, out);
      }
      v1::LearnedParameters Parameters() const override {
        return inner->Parameters();
      }
    };
    auto f = std::make_unique<Faulty>();
    f->inner = std::move(*m);
    f->fail = a.version() == 3;
    return serving::Servable::Create(a, std::move(f));
  };
  CloseAll();
  OpenAll();
  Predictor p = MakePredictor();
  // Errors: the previous version answers.
  ASSERT_TRUE(DeployTo(deployments_.get(), "errs", "credit:1").ok());
  ASSERT_TRUE(DeployTo(deployments_.get(), "errs", "credit:3").ok());
  auto out = p.Predict(Rows(0, 2, "errs"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(out->fallback);
  EXPECT_EQ(out->servable->version(), "credit:1");
  // Late: past the budget the previous version answers, long before the
  // slow one would have.
  ASSERT_TRUE(DeployTo(deployments_.get(), "late", "credit:2").ok());
  ASSERT_TRUE(DeployTo(deployments_.get(), "late", "credit:4", 20).ok());
  absl::Time start = absl::Now();
  out = p.Predict(Rows(0, 2, "late"));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(250));
  EXPECT_TRUE(out->fallback);
  EXPECT_EQ(out->servable->version(), "credit:2");
  // A budget no request can meet (1 us from arrival): the primary never
  // answers, however quick (it answered 272 of 300 when a 10 us budget was
  // timed from the hand-off to a worker; at 10 us from arrival, 5 of 300
  // once under ctest -j2: a one-row primary can finish that fast).
  ASSERT_TRUE(DeployTo(deployments_.get(), "tight", "credit:1").ok());
  ASSERT_TRUE(DeployTo(deployments_.get(), "tight", "credit:2", 0.001).ok());
  int primary = 0;
  for (int i = 0; i < 300; ++i) {
    auto o = p.Predict(Rows(0, 1, "credit@tight"));
    ASSERT_TRUE(o.ok()) << o.status();
    primary += !o->fallback;
  }
  EXPECT_EQ(primary, 0);
  // Without a fallback the error is the answer.
  auto direct = p.Predict(Rows(0, 1, "credit:3"));
  EXPECT_TRUE(absl::IsInternal(direct.status())) << direct.status();
  // Bad input never falls back.
  PredictInput bad = Rows(0, 1, "errs");
  bad.rows[0].erase("Income");
  EXPECT_TRUE(absl::IsInvalidArgument(p.Predict(bad).status()));
}

// A field's value is at most max_field_bytes: 300 requests each with a
// unique 1 MiB value once grew the server by 740 MB.
TEST_F(ScoreTest, AValueOverTheFieldLimitIsRefused) {
  ASSERT_TRUE(Deploy("credit:2").ok());
  Predictor p = MakePredictor({.max_field_bytes = 1000});
  PredictInput in = Rows(0, 1);
  in.rows[0]["Home"] = std::string(1001, 'x');
  auto out = p.Predict(in);
  EXPECT_TRUE(absl::IsInvalidArgument(out.status()));
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr("rows[0].Home: a value of 1001 bytes, at most 1000"));
  in.rows[0]["Home"] = std::string(1000, 'x');  // At the limit: an unseen
  EXPECT_TRUE(p.Predict(in).ok());              // category, scored.
}

TEST_F(ScoreTest, OverloadIsRefusedAtOnce) {
  ASSERT_TRUE(Deploy("credit:2").ok());
  PredictorOptions o;
  o.max_concurrent = 2;
  Predictor p = MakePredictor(o);
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto out = p.Predict(Rows(0, 400));
        if (out.ok()) {
          ++ok;
        } else if (absl::IsResourceExhausted(out.status())) {
          ++refused;
          EXPECT_THAT(std::string(out.status().message()),
                      HasSubstr("limit of 2"));
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(other.load(), 0);
}

TEST_F(ScoreTest, FeaturesOfRawRowsAreLoggedOnlyWhenAsked) {
  ASSERT_TRUE(Deploy("credit:2").ok());
  for (bool log_features : {false, true}) {
    PredictorOptions o;
    o.log_features = log_features;
    Predictor p = MakePredictor(o);
    auto out = p.Predict(Rows(5, 1));
    ASSERT_TRUE(out.ok());
    ASSERT_TRUE(logger_->Flush());
    auto logged = sink_->Read("credit:2", 10);
    ASSERT_TRUE(logged.ok());
    ASSERT_FALSE(logged->empty());
    const auto& r = logged->front();  // The newest.
    EXPECT_EQ(r.prediction_id(), out->ids[0]);
    EXPECT_GT(r.inputs().fields_size(), 0);  // The row gives them again.
    EXPECT_EQ(r.features_size(),
              log_features ? M().gbdt.feature_names_size() : 0);
  }
}

TEST_F(ScoreTest, PredictionsAreLoggedWithInputsFeaturesAndShadows) {
  ASSERT_TRUE(Deploy("credit:2").ok());
  ASSERT_TRUE(Deploy("credit:1", 0, /*shadow=*/true).ok());
  PredictorOptions o;
  o.log_features = true;
  Predictor p = MakePredictor(o);
  auto out = p.Predict(Rows(5, 4));
  ASSERT_TRUE(out.ok());
  // Shadows run on workers: wait for them, then flush the log.
  for (int i = 0; i < 200; ++i) {
    logger_->Flush();
    auto shadow = sink_->Read("credit:1", 10);
    if (shadow.ok() && shadow->size() == 4) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  auto served = sink_->Read("credit:2", 10);
  auto shadow = sink_->Read("credit:1", 10);
  ASSERT_TRUE(served.ok() && shadow.ok());
  ASSERT_EQ(served->size(), 4u);
  ASSERT_EQ(shadow->size(), 4u);
  std::set<std::string> ids(out->ids.begin(), out->ids.end());
  EXPECT_EQ(ids.size(), 4u);
  std::set<int> rows_seen;
  for (const auto& r : *served) {
    EXPECT_TRUE(ids.contains(r.prediction_id()));
    EXPECT_FALSE(r.shadow());
    // Every raw field, as sent (Predict gets no label).
    EXPECT_EQ(r.inputs().fields_size(),
              static_cast<int>(RowOf(Credit(), 5).size()));
    EXPECT_TRUE(r.inputs().fields().contains("Income"));
    EXPECT_EQ(r.features_size(), M().gbdt.feature_names_size());
    EXPECT_EQ(r.scores_size(), 1);
    EXPECT_EQ(r.request_rows(), 4);  // Its request's latency counts once.
    EXPECT_TRUE(rows_seen.insert(r.request_row()).second);
  }
  EXPECT_EQ(rows_seen, (std::set<int>{0, 1, 2, 3}));
  for (const auto& r : *shadow) {
    EXPECT_TRUE(r.shadow());
    EXPECT_TRUE(ids.contains(r.prediction_id()));  // Same ids: comparable.
  }
  // The response came from the primary only.
  EXPECT_EQ(out->servable->version(), "credit:2");
}

TEST_F(ScoreTest, AShadowNeverAnswersEvenWhenNamed) {
  ASSERT_TRUE(Deploy("credit:1").ok());
  ASSERT_TRUE(Deploy("credit:2", 0, /*shadow=*/true).ok());  // Newer.
  Predictor p = MakePredictor();
  // The model's name resolves to the version a route serves, not to the
  // newest one loaded.
  auto by_name = p.Predict(Rows(0, 1, "credit"));
  ASSERT_TRUE(by_name.ok()) << by_name.status();
  EXPECT_EQ(by_name->servable->version(), "credit:1");
  auto named = p.Predict(Rows(0, 1, "credit:2"));
  EXPECT_TRUE(absl::IsNotFound(named.status()));
  EXPECT_THAT(std::string(named.status().message()),
              HasSubstr("credit:2 is a shadow of 'credit@production'"));
  EXPECT_TRUE(absl::IsNotFound(p.Resolve("credit:2").status()));
  EXPECT_EQ((*p.Resolve("credit"))->version(), "credit:1");
}

// A copy of credit:2's model under another name (a second pipeline's).
v1::ModelArtifact ModelNamed(const std::string& name) {
  v1::ModelArtifact m = M().gbdt;
  m.set_name(name);
  m.set_version(1);
  m.set_id(name + ":1");
  m.set_sha256(ml::ArtifactHash(m));
  return m;
}

TEST_F(ScoreTest, AliasesBelongToAModel) {
  train_.Add(ModelNamed("other"));
  ASSERT_TRUE(Deploy("credit:1").ok());
  v1::DeployRequest staging;
  staging.set_model_version("credit:2");
  staging.set_alias("staging");
  auto st = deployments_->Deploy(staging);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->route().alias(), "credit@staging");
  // A second model's production alias is its own: credit's is untouched.
  auto other = Deploy("other:1");
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(other->route().alias(), "other@production");
  EXPECT_EQ(other->route().revision(), 1);
  Predictor p = MakePredictor();
  auto version = [&](const std::string& model) -> std::string {
    auto out = p.Predict(Rows(0, 1, model));
    return out.ok() ? out->servable->version() : out.status().ToString();
  };
  EXPECT_EQ(version("credit"), "credit:1");  // Its default alias.
  EXPECT_EQ(version("credit@production"), "credit:1");
  EXPECT_EQ(version("credit@staging"), "credit:2");
  EXPECT_EQ(version("staging"), "credit:2");  // The one model with it.
  EXPECT_EQ(version("credit:2"), "credit:2");
  EXPECT_EQ(version("other"), "other:1");
  // A bare alias two models have is ambiguous, and says what to name.
  for (const char* ambiguous : {"production", ""}) {
    auto out = p.Predict(Rows(0, 1, ambiguous));
    EXPECT_TRUE(absl::IsInvalidArgument(out.status())) << ambiguous;
    EXPECT_THAT(std::string(out.status().message()),
                HasSubstr("name one of credit@production, other@production"));
  }
  EXPECT_TRUE(absl::IsNotFound(p.Predict(Rows(0, 1, "nope")).status()));
  // Rollback and history take the same names.
  v1::RollbackRequest rb;
  rb.set_alias("production");
  EXPECT_TRUE(absl::IsInvalidArgument(deployments_->Rollback(rb).status()));
  ASSERT_TRUE(Deploy("credit:2").ok());
  rb.set_alias("credit");
  auto back = deployments_->Rollback(rb);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->alias(), "credit@production");
  EXPECT_EQ(version("credit"), "credit:1");
  EXPECT_EQ(deployments_->History("credit")->size(), 3u);
  EXPECT_EQ(deployments_->History("other@production")->size(), 1u);
  // An explicit split of two models' versions needs the alias's model.
  v1::DeployRequest split;
  split.set_alias("canary");
  for (const char* v : {"credit:1", "other:1"}) {
    auto* t = split.add_traffic();
    t->set_model_version(v);
    t->set_percent(50);
  }
  EXPECT_THAT(std::string(deployments_->Deploy(split).status().message()),
              HasSubstr("name its alias as MODEL@canary"));
  split.set_alias("credit@canary");
  EXPECT_TRUE(deployments_->Deploy(split).ok());
}

TEST_F(ScoreTest, RoutesOfUnqualifiedAliasesMoveUnderTheirModel) {
  train_.Add(ModelNamed("other"));
  // As stored before aliases had models: "production" served credit:1,
  // then other:1, then credit:2.
  std::string dir = dir_.path() + "/legacy";
  {
    Replica legacy(dir, &train_, nullptr);
    v1::Route r;
    for (auto [revision, version] : {std::pair<int, const char*>{1, "credit:1"},
                                     {2, "other:1"},
                                     {3, "credit:2"}}) {
      r.set_alias("production");
      r.clear_targets();
      auto* t = r.add_targets();
      t->set_model_version(version);
      t->set_percent(100);
      r.set_revision(revision);
      std::string key("production");
      key.push_back('\0');
      storage::AppendU64(&key, revision);
      ASSERT_TRUE(
          legacy.store->Put(kRouteLog, key, r.SerializeAsString()).ok());
    }
    ASSERT_TRUE(
        legacy.store->Put(kRoutes, "production", r.SerializeAsString()).ok());
  }
  for (int start = 0; start < 2; ++start) {  // Idempotent.
    Replica migrated(dir, &train_, nullptr);
    ASSERT_TRUE(migrated.deployments->Restore().ok());
    auto list = migrated.deployments->List();
    ASSERT_EQ(list.routes_size(), 1);
    EXPECT_EQ(list.routes(0).alias(), "credit@production");
    EXPECT_EQ(migrated.Serving(), "credit:2");
    auto credit = migrated.deployments->History("credit@production");
    ASSERT_TRUE(credit.ok()) << credit.status();
    ASSERT_EQ(credit->size(), 2u);
    EXPECT_EQ((*credit)[1].alias(), "credit@production");
    EXPECT_EQ(PrimaryOf((*credit)[1]), "credit:1");
    auto other = migrated.deployments->History("other@production");
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_EQ(other->size(), 1u);
    // The old name still finds the one model that has the alias.
    Predictor p(PredictorOptions{}, migrated.manager.get(), nullptr, nullptr);
    auto out = p.Predict(Rows(0, 1, "production"));
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(out->servable->version(), "credit:2");
  }
}

// A tensor's claimed shape is checked against the row limit and against
// the values it carries before anything is allocated: a 40-byte request
// claiming 2^33 rows once made the server allocate them.
TEST(RowsFromInferTest, AClaimedShapeIsCheckedBeforeAllocating) {
  inference::ModelInferRequest req;
  auto* t = req.add_inputs();
  t->set_name("Income");
  t->set_datatype("FP64");
  t->add_shape(int64_t{1} << 33);
  t->mutable_contents()->add_fp64_contents(120);
  std::vector<serving::RawRow> rows;
  auto huge = RowsFromInfer(req, /*max_rows=*/size_t{1} << 40, &rows);
  EXPECT_TRUE(absl::IsInvalidArgument(huge));
  EXPECT_THAT(std::string(huge.message()),
              HasSubstr("1 values for shape [8589934592]"));
  EXPECT_TRUE(rows.empty());
  auto limited = RowsFromInfer(req, 10000, &rows);
  EXPECT_THAT(std::string(limited.message()),
              HasSubstr("8589934592 rows, at most 10000 per request"));
  t->set_shape(0, 1);
  ASSERT_TRUE(RowsFromInfer(req, 10000, &rows).ok());
  ASSERT_EQ(rows.size(), 1u);
}

// Predict rows: a non-finite number or a bool is refused (a missing value
// is null), as the README says.
TEST(RowsFromRequestTest, NonFiniteNumbersAndBoolsAreRefused) {
  std::vector<serving::RawRow> rows;
  v1::PredictRequest req;
  auto& fields = *req.add_rows()->mutable_fields();
  fields["Income"].set_number_value(std::nan(""));
  EXPECT_THAT(RowsFromRequest(req, &rows).ToString(),
              HasSubstr("rows[0].Income: nan is not a finite number"));
  fields["Income"].set_number_value(INFINITY);
  EXPECT_TRUE(absl::IsInvalidArgument(RowsFromRequest(req, &rows)));
  fields["Income"].set_bool_value(true);
  EXPECT_THAT(RowsFromRequest(req, &rows).ToString(),
              HasSubstr("rows[0].Income: expected a number, a string or "
                        "null, got a bool"));
  fields["Income"].set_null_value(google::protobuf::NULL_VALUE);
  ASSERT_TRUE(RowsFromRequest(req, &rows).ok());
  EXPECT_TRUE(std::holds_alternative<std::monostate>(rows[0].at("Income")));
}

TEST(PredictionIdTest, IdsAreTheNonceAndACounterIn24HexDigits) {
  const std::string a = NewPredictionId(), b = NewPredictionId();
  ASSERT_EQ(a.size(), 24u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  // The process's nonce, then a counter that went up by one.
  EXPECT_EQ(a.substr(0, 12), b.substr(0, 12));
  EXPECT_EQ(std::stoull(b.substr(12), nullptr, 16),
            std::stoull(a.substr(12), nullptr, 16) + 1);
}

// The inputs of a logged record are written straight from the raw row: the
// bytes parse as the Struct protobuf itself makes of the same fields.
TEST(PredictionRecordTest, InputBytesAreTheStructOfTheRow) {
  serving::RawRow row{
      {"amount", 1234.5},           {"negative", -0.0},
      {"nan", std::nan("")},        {"city", std::string("Zürich")},
      {"empty", std::string()},     {"long", std::string(300, 'x')},
      {"", std::string("no name")}, {"missing", std::monostate()}};
  google::protobuf::Struct want;
  auto& f = *want.mutable_fields();
  f["amount"].set_number_value(1234.5);
  f["negative"].set_number_value(-0.0);
  f["nan"].set_number_value(std::nan(""));
  f["city"].set_string_value("Zürich");
  f["empty"].set_string_value("");
  f["long"].set_string_value(std::string(300, 'x'));
  f[""].set_string_value("no name");
  f["missing"].set_null_value(google::protobuf::NULL_VALUE);
  std::string bytes;
  AppendStructBytes(row, &bytes);
  google::protobuf::Struct got;
  ASSERT_TRUE(got.ParseFromString(bytes));
  ASSERT_EQ(got.fields_size(), want.fields_size());
  for (const auto& [name, v] : want.fields()) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(got.fields().contains(name));
    const auto& g = got.fields().at(name);
    ASSERT_EQ(g.kind_case(), v.kind_case());
    if (v.has_number_value()) {  // Bit for bit: NaN and -0 too.
      const double a = g.number_value(), b = v.number_value();
      EXPECT_EQ(std::memcmp(&a, &b, 8), 0);
    }
    EXPECT_EQ(g.string_value(), v.string_value());
  }
  // As many bytes as protobuf writes (a map's order is its own).
  EXPECT_EQ(want.SerializeAsString().size(), bytes.size());
}

TEST(PredictionLoggerTest, FullQueueDropsAndCountsInsteadOfBlocking) {
  // A sink that blocks until released.
  class Slow final : public BatchSink {
   public:
    absl::Status Take(const v1::PredictionBatch& b) override {
      release.WaitForNotification();
      written += b.records_size();
      return absl::OkStatus();
    }
    absl::Notification release;
    std::atomic<int> written{0};
  } sink;
  PredictionLoggerOptions o;
  o.queue_capacity = 10;
  o.batch_records = 5;
  testing::TempDir dir;
  auto logger = PredictionLogger::Open(o, dir.path(), nullptr, &sink);
  ASSERT_TRUE(logger.ok()) << logger.status();
  PredictionLogger& log = **logger;
  int accepted = 0;
  for (int i = 0; i < 40; ++i)
    accepted += log.Log(std::vector<v1::PredictionRecord>(1)) ? 1 : 0;
  EXPECT_LT(accepted, 40);
  EXPECT_EQ(log.dropped(), 40 - accepted);
  sink.release.Notify();
  EXPECT_TRUE(log.Flush());
  EXPECT_EQ(sink.written.load(), accepted);
}

// Logged records are in the log before Log returns: a sink that refuses
// them loses none, and what one process did not ship the next one ships,
// in order, after the records an older version left in the score store.
TEST(PredictionLoggerTest, RecordsSurviveAFailingSinkAndARestart) {
  class Sink final : public BatchSink {
   public:
    absl::Status Take(const v1::PredictionBatch& b) override {
      if (refuse) return absl::UnavailableError("monitor is down");
      for (const auto& r : b.records()) ids.push_back(r.prediction_id());
      return absl::OkStatus();
    }
    std::atomic<bool> refuse{true};
    std::vector<std::string> ids;
  } sink;
  testing::TempDir dir;
  const std::string log_dir = dir.path() + "/log";
  storage::Options so{.column_families = {{.name = kPredictionLog}}};
  auto store = *storage::OpenRocksStore(dir.path() + "/store", so);
  {
    // What an older version left: sequence -> record (and one that does
    // not parse, skipped: shipped as stored, it would fail its batch).
    storage::WriteBatch b;
    std::string bad_key;
    storage::AppendU64(&bad_key, 99);
    b.Put(kPredictionLog, bad_key, "\xff\xff not a record");
    for (int i = 0; i < 5; ++i) {
      v1::PredictionRecord r;
      r.set_prediction_id(StrCat("old", i));
      std::string key;
      storage::AppendU64(&key, 100 + i);
      b.Put(kPredictionLog, key, r.SerializeAsString());
    }
    ASSERT_TRUE(store->Write(b).ok());
  }
  PredictionLoggerOptions o;
  o.flush_interval = std::chrono::milliseconds(5);
  o.retry_interval = std::chrono::milliseconds(5);
  {
    auto log = *PredictionLogger::Open(o, log_dir, store.get(), &sink);
    EXPECT_FALSE(store->Scan(kPredictionLog, "")->Valid());  // Moved.
    for (int i = 0; i < 30; ++i) {
      v1::PredictionRecord r;
      r.set_prediction_id(StrCat("p", i));
      ASSERT_TRUE(log->Log({r}));
    }
    EXPECT_FALSE(log->Flush(std::chrono::milliseconds(100)));
    EXPECT_EQ(log->depth(), 35u);
  }  // Stopped with nothing shipped.
  sink.refuse = false;
  auto log = *PredictionLogger::Open(o, log_dir, store.get(), &sink);
  EXPECT_EQ(log->depth(), 35u);
  v1::PredictionRecord later;
  later.set_prediction_id("p30");
  ASSERT_TRUE(log->Log({later}));
  ASSERT_TRUE(log->Flush());
  ASSERT_EQ(sink.ids.size(), 36u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sink.ids[i], StrCat("old", i));
  for (int i = 0; i < 31; ++i) EXPECT_EQ(sink.ids[5 + i], StrCat("p", i));
  EXPECT_EQ(log->depth(), 0u);
  // Shipped, it is not shipped again by the next start.
  log.reset();
  sink.ids.clear();
  log = *PredictionLogger::Open(o, log_dir, store.get(), &sink);
  EXPECT_EQ(log->depth(), 0u);
  EXPECT_TRUE(log->Flush());
  EXPECT_TRUE(sink.ids.empty());
}

// A record the sink refuses for what it holds (INVALID_ARGUMENT) is found
// by halving the batch, dropped and counted; the records around it are
// shipped, in order. Refusals of another kind keep everything.
TEST(PredictionLoggerTest, ARecordTheSinkRefusesIsDroppedNotRetriedForever) {
  class Sink final : public BatchSink {
   public:
    absl::Status Take(const v1::PredictionBatch& b) override {
      ++writes;
      for (const auto& r : b.records()) {
        if (r.model_version().empty())
          return absl::InvalidArgumentError("record without a model version");
      }
      for (const auto& r : b.records()) ids.push_back(r.prediction_id());
      return absl::OkStatus();
    }
    std::vector<std::string> ids;
    int writes = 0;
  } sink;
  testing::TempDir dir;
  PredictionLoggerOptions o;
  o.batch_records = 64;
  o.flush_interval = std::chrono::milliseconds(5);
  o.retry_interval = std::chrono::seconds(60);  // A retry would time out.
  auto log = *PredictionLogger::Open(o, dir.path() + "/log", nullptr, &sink);
  std::vector<v1::PredictionRecord> records(100);
  for (int i = 0; i < 100; ++i) {
    records[i].set_prediction_id(StrCat("p", i));
    if (i != 17 && i != 70) records[i].set_model_version("m:1");
  }
  ASSERT_TRUE(log->Log(records));
  ASSERT_TRUE(log->Flush(std::chrono::seconds(10)));
  ASSERT_EQ(sink.ids.size(), 98u);
  for (int i = 0, k = 0; i < 100; ++i) {
    if (i == 17 || i == 70) continue;
    EXPECT_EQ(sink.ids[k++], StrCat("p", i));
  }
  EXPECT_EQ(log->depth(), 0u);
  EXPECT_LT(sink.writes, 40);  // Halving: about log2(64) tries per record.
}

// Calls log concurrently while the shipper runs and the sink refuses every
// third batch: every record is shipped exactly once, in the order of its
// sequence, over many segments, and the shipped segments are deleted.
TEST(PredictionLoggerTest, ConcurrentCallsShipEveryRecordOnceInOrder) {
  class Sink final : public BatchSink {
   public:
    absl::Status Take(const v1::PredictionBatch& b) override {
      std::lock_guard lock(mu);
      if (++calls % 3 == 0) return absl::UnavailableError("refused");
      for (const auto& r : b.records()) ids.push_back(r.prediction_id());
      return absl::OkStatus();
    }
    std::mutex mu;
    int calls = 0;
    std::vector<std::string> ids;
  };
  Sink sink;
  testing::TempDir dir;
  PredictionLoggerOptions o;
  o.batch_records = 37;
  o.segment_bytes = 4096;
  o.flush_interval = std::chrono::milliseconds(1);
  o.retry_interval = std::chrono::milliseconds(1);
  auto log = *PredictionLogger::Open(o, dir.path(), nullptr, &sink);
  constexpr int kThreads = 8, kCalls = 400;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        v1::PredictionRecord r;
        r.set_prediction_id(StrCat(t, "-", i));
        EXPECT_TRUE(log->Log({r}));
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(log->Flush());
  std::lock_guard lock(sink.mu);
  ASSERT_EQ(sink.ids.size(), static_cast<size_t>(kThreads * kCalls));
  std::set<std::string> unique(sink.ids.begin(), sink.ids.end());
  EXPECT_EQ(unique.size(), sink.ids.size());
  // Each caller's records arrive in the order it logged them.
  std::map<std::string, int> next;
  for (const auto& id : sink.ids) {
    const auto dash = id.find('-');
    const std::string caller = id.substr(0, dash);
    EXPECT_EQ(std::stoi(id.substr(dash + 1)), next[caller]++) << id;
  }
  EXPECT_EQ(log->depth(), 0u);
  // What was shipped is gone: the segment appended to is left.
  size_t segments = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    segments += e.path().extension() == ".seg";
  EXPECT_EQ(segments, 1u);
}

TEST_F(ScoreTest, BatchScoresDatasetsWithTheSameCodeAsPredict) {
  ASSERT_TRUE(Deploy("credit:2").ok());
  class Sources final : public BatchSources {
   public:
    absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadDataset(
        const std::string& dataset, int64_t* version) override {
      if (dataset != "credit") return absl::NotFoundError("no such dataset");
      *version = 1;
      class Reader final : public table::FrameReader {
       public:
        absl::StatusOr<bool> Next(v1::Frame* f) override {
          if (next_ >= Credit().num_rows) return false;
          size_t n = std::min<size_t>(1000, Credit().num_rows - next_);
          table::Table t;
          t.num_rows = n;
          for (const auto& c : Credit().columns)
            t.columns.push_back(c.Slice(next_, n));
          table::TableToFrame(t, f);
          next_ += n;
          return true;
        }
        size_t next_ = 0;
      };
      return std::unique_ptr<table::FrameReader>(new Reader());
    }
    absl::StatusOr<std::unique_ptr<table::FrameReader>> ReadFeatures(
        const std::string&, const std::vector<std::string>&) override {
      return absl::UnimplementedError("not here");
    }
  } sources;
  BatchScorer scorer({.threads = 2}, store_.get(), manager_.get(), &train_,
                     &sources);
  class P final : public ops::Progress {
   public:
    bool Cancelled() const override { return false; }
    void Update(int64_t, int64_t, const std::string&, double) override {}
    std::string operation_id() const override { return "batch-1"; }
  } progress;
  v1::StartBatchScoringRequest req;
  req.set_model("production");
  req.set_dataset("credit");
  req.add_keep_columns("Status");
  auto job = scorer.Run(req, progress);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->rows(), static_cast<int64_t>(Credit().num_rows));
  EXPECT_EQ(job->chunks(), 5);
  EXPECT_EQ(job->model_version(), "credit:2");
  EXPECT_THAT(job->columns(),
              ::testing::ElementsAre("Status", "label", "p_good", "p_bad"));
  // Every row equals Predict's answer for it.
  Predictor p = MakePredictor();
  auto online = p.Predict(Rows(0, Credit().num_rows));
  ASSERT_TRUE(online.ok());
  auto reader = scorer.Read(job->id());
  ASSERT_TRUE(reader.ok());
  v1::Frame f;
  size_t row = 0;
  while (*(*reader)->Next(&f)) {
    auto t = table::TableFromFrame(std::move(f));
    ASSERT_TRUE(t.ok());
    const auto& pbad = t->columns[t->Find("p_bad")];
    for (size_t r = 0; r < t->num_rows; ++r, ++row)
      ASSERT_EQ(pbad.numbers[r], online->scores[row]) << "row " << row;
  }
  EXPECT_EQ(row, Credit().num_rows);
  // Bad requests.
  v1::StartBatchScoringRequest bad = req;
  bad.set_feature_set("fs");
  EXPECT_TRUE(absl::IsInvalidArgument(scorer.Check(bad)));
  bad = req;
  bad.add_keep_columns("Nope");
  class P2 final : public ops::Progress {
   public:
    bool Cancelled() const override { return false; }
    void Update(int64_t, int64_t, const std::string&, double) override {}
    std::string operation_id() const override { return "batch-2"; }
  } progress2;
  auto failed = scorer.Run(bad, progress2);
  EXPECT_THAT(std::string(failed.status().message()),
              HasSubstr("keep_columns: 'Nope'"));
}

}  // namespace
}  // namespace mlpipe::score

namespace mlpipe::score {
namespace {

TEST_F(ScoreTest, ListDeploymentsAnswersWhileAVersionLoads) {
  // TEST hook: loading takes a second, as a large artifact would.
  CloseAll();
  std::atomic<bool> loading{false};
  loader_ = [&loading](const v1::ModelArtifact& artifact) {
    loading = true;
    absl::SleepFor(absl::Seconds(1));
    return serving::Servable::Load(artifact);
  };
  OpenAll();
  std::thread deploy([this] { EXPECT_TRUE(Deploy("credit:1").ok()); });
  while (!loading) absl::SleepFor(absl::Milliseconds(1));
  const absl::Time start = absl::Now();
  v1::ListDeploymentsResponse during = deployments_->List();
  const bool ready = deployments_->ready();
  const absl::Duration took = absl::Now() - start;
  EXPECT_LT(took, absl::Milliseconds(100));
  EXPECT_TRUE(ready);
  EXPECT_EQ(during.routes_size(), 0);  // Not served before it is loaded.
  bool shown_loading = false;
  for (const auto& v : during.versions())
    shown_loading |=
        v.model_version() == "credit:1" && v.state() == v1::LOADING;
  EXPECT_TRUE(shown_loading);
  deploy.join();
  EXPECT_EQ(deployments_->List().routes_size(), 1);
}

}  // namespace
}  // namespace mlpipe::score
