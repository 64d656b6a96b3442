// The training service end to end inside one process: ingest, prep, split
// and train modules over RocksDB on disk, on one real gRPC server
// (host::Host), called through in-process channels; train replicas as
// hosts of their own on loopback ports.
#include <signal.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "common/eval/score.h"
#include "common/features/test_data.h"
#include "common/metrics/metrics.h"
#include "common/ml/model.h"
#include "common/ops/operation_client.h"
#include "common/rpc/channel.h"
#include "common/rpc/peers.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/prep_service.grpc.pb.h"
#include "mlpipe/v1/split_service.grpc.pb.h"
#include "mlpipe/v1/train_service.grpc.pb.h"
#include "prometheus/text_serializer.h"
#include "services/host/host.h"
#include "services/ingest/ingest_module.h"
#include "services/prep/prep_module.h"
#include "services/split/split_module.h"
#include "services/train/train_module.h"

namespace mlpipe::train {
namespace {

using ::testing::HasSubstr;

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

v1::StartTrainingRequest Request(const std::string& json) {
  v1::StartTrainingRequest r;
  auto s = google::protobuf::util::JsonStringToMessage(json, &r);
  EXPECT_TRUE(s.ok()) << s << json;
  return r;
}

class TrainingServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Boot({});
    Load();
  }
  void TearDown() override {
    host_.reset();
    replica_hosts_.clear();
  }

  void Boot(TrainModuleOptions options) {
    host_.reset();
    auto ingest = ingest::IngestModule::Open(dir_.path(), {});
    ASSERT_TRUE(ingest.ok()) << ingest.status();
    ingest_ = ingest->get();
    auto prep = prep::PrepModule::Open(dir_.path(), {});
    ASSERT_TRUE(prep.ok()) << prep.status();
    auto split = split::SplitModule::Open(dir_.path(), {});
    ASSERT_TRUE(split.ok()) << split.status();
    options.trainer.worker_id = "coordinator";
    auto train = TrainModule::Open(dir_.path(), options);
    ASSERT_TRUE(train.ok()) << train.status();
    train_log_ = (*train)->event_log();
    std::vector<std::unique_ptr<host::ServiceModule>> modules;
    modules.push_back(std::move(*ingest));
    modules.push_back(std::move(*prep));
    modules.push_back(std::move(*split));
    modules.push_back(std::move(*train));
    auto host = host::Host::Start(
        {.grpc_address = "127.0.0.1:0", .metrics_address = ""},
        std::move(modules));
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = std::move(*host);
    auto channel = host_->InProcessChannel();
    prep_ = v1::Prep::NewStub(channel);
    splits_ = v1::Splits::NewStub(channel);
    train_ = v1::Training::NewStub(channel);
  }

  // credit.csv ingested, split stratified 0.7/0.15/0.15 with 5 folds, and
  // features fitted on the training part.
  void Load() {
    v1::IngestHeader h;
    h.set_dataset("credit");
    auto upload = ingest_->ingestor()->BeginUpload(h);
    ASSERT_TRUE(upload.ok()) << upload.status();
    ASSERT_TRUE(
        (*upload)
            ->AddChunk(testing::ReadFile(features::testdata::CreditCsvPath()))
            .ok());
    ASSERT_TRUE((*upload)->Finish().ok());

    auto split = MakeSplit(
        R"({"dataset": "credit", "strategy": "stratified", "label": "Status",
            "seed": 42, "folds": 5, "parts": [{"name": "train", "ratio": 0.7},
            {"name": "eval", "ratio": 0.15}, {"name": "test", "ratio": 0.15}]})");
    ASSERT_TRUE(split.ok()) << split.status();
    split_ = *split;

    v1::PrepareRequest req;
    req.set_dataset("credit");
    req.set_label("Status");
    req.mutable_fit_on()->set_split(split_.id());
    req.mutable_fit_on()->set_part("train");
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(
            R"([{"columns": ["Income", "Assets", "Debt"], "impute": "median",
                         "clip": {"quantiles": [0.01, 0.99]}, "scale": "standard"},
                        {"columns": ["Seniority", "Time", "Age", "Expenses", "Amount", "Price"],
                         "impute": "median", "scale": "standard"},
                        {"columns": ["Home", "Marital", "Job", "Records"], "impute": "mode",
                         "one_hot": {"max_categories": 20}}])",
            req.mutable_transforms())
            .ok());
    grpc::ClientContext pctx;
    v1::Operation pop;
    ASSERT_TRUE(prep_->Prepare(&pctx, req, &pop).ok());
    auto fs = Finish<v1::FeatureSet>(pop);
    ASSERT_TRUE(fs.ok()) << fs.status();
    fs_ = *fs;
  }

  // A split of the dataset by `spec` (a v1::SplitSpec as JSON).
  absl::StatusOr<v1::Split> MakeSplit(const std::string& spec) {
    v1::SplitSpec s;
    if (auto st = google::protobuf::util::JsonStringToMessage(spec, &s);
        !st.ok())
      return absl::InvalidArgumentError(st.ToString());
    grpc::ClientContext ctx;
    v1::Operation op;
    if (auto st = splits_->CreateSplit(&ctx, s, &op); !st.ok())
      return FromGrpc(st);
    return Finish<v1::Split>(op);
  }

  template <typename T>
  absl::StatusOr<T> Finish(const v1::Operation& op) {
    auto ended = ops::WatchToEnd(
        ops_channel_ ? ops_channel_ : host_->InProcessChannel(), op);
    if (!ended.ok()) return ended.status();
    return ops::OperationResult<T>(*ended);
  }

  absl::StatusOr<v1::Operation> Start(v1::StartTrainingRequest req) {
    if (req.split().empty()) req.set_split(split_.id());
    if (req.feature_set().empty()) req.set_feature_set(fs_.id());
    grpc::ClientContext ctx;
    v1::Operation op;
    if (auto s = train_->StartTraining(&ctx, req, &op); !s.ok())
      return FromGrpc(s);
    return op;
  }

  absl::StatusOr<v1::TrainingResult> Train(
      const v1::StartTrainingRequest& req) {
    auto op = Start(req);
    if (!op.ok()) return op.status();
    return Finish<v1::TrainingResult>(*op);
  }

  absl::StatusOr<v1::ModelArtifact> GetModel(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetModelRequest req;
    req.set_id(id);
    v1::ModelArtifact out;
    if (auto s = train_->GetModel(&ctx, req, &out); !s.ok()) return FromGrpc(s);
    return out;
  }

  absl::StatusOr<v1::TrainingJob> GetJob(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(id);
    v1::TrainingJob out;
    if (auto s = train_->GetJob(&ctx, req, &out); !s.ok()) return FromGrpc(s);
    return out;
  }

  // A part of the split, features then the label as 1 (bad) / 0, as CSV
  // for Python.
  std::string PartCsv(const std::string& part) {
    grpc::ClientContext ctx;
    v1::ReadSplitRequest req;
    req.set_split(split_.id());
    req.set_part(part);
    req.set_feature_set(fs_.id());
    req.set_with_labels(true);
    auto reader = splits_->ReadSplit(&ctx, req);
    std::string csv;
    v1::Frame f;
    while (reader->Read(&f)) {
      auto t = table::TableFromFrame(std::move(f));
      EXPECT_TRUE(t.ok());
      int label = t->Find("Status");
      for (size_t r = 0; r < t->num_rows; ++r) {
        StrAppend(&csv, t->columns[label].strings[r] == "bad" ? 1 : 0);
        for (const auto& name : fs_.features()) {
          char buf[32];
          std::snprintf(buf, sizeof(buf), ",%.17g",
                        t->columns[t->Find(name)].numbers[r]);
          csv += buf;
        }
        csv += "\n";
      }
    }
    EXPECT_TRUE(reader->Finish().ok());
    return csv;
  }

  // A train service of its own (a replica or a coordinator) reading from
  // this host's split and prep; its address. Its shards (distributed
  // trials) run the mlpipe-train-shard binary of this build.
  std::string StartTrainHost(const std::string& name, TrainModuleOptions o) {
    const std::string data = StrCat("127.0.0.1:", host_->port());
    o.trainer.worker_id = name;
    if (o.shard_binary.empty())
      o.shard_binary = StrCat(MLPIPE_BIN_DIR_DEFAULT, "/mlpipe-train-shard");
    auto peers = std::make_shared<rpc::Peers>(
        std::map<std::string, std::string>{{"split", data}, {"prep", data}});
    auto train = TrainModule::Open(
        host::ModuleEnv(StrCat(dir_.path(), "/", name), peers), o);
    EXPECT_TRUE(train.ok()) << train.status();
    std::vector<std::unique_ptr<host::ServiceModule>> modules;
    modules.push_back(std::move(*train));
    auto host = host::Host::Start(
        {.grpc_address = "127.0.0.1:0", .metrics_address = ""},
        std::move(modules));
    EXPECT_TRUE(host.ok()) << host.status();
    replica_hosts_.push_back(std::move(*host));
    return StrCat("127.0.0.1:", replica_hosts_.back()->port());
  }

  // Two replicas and a coordinator sending them its trials; train_ calls
  // the coordinator.
  void StartReplicas(TrainModuleOptions coordinator) {
    std::string a = StartTrainHost("replica0", {}),
                b = StartTrainHost("replica1", {});
    coordinator.replicas = StrCat("ipv4:", a, ",", b);
    coordinator.trainer.tracker_host = "127.0.0.1";
    StartTrainHost("coordinator", std::move(coordinator));
    ops_channel_ = replica_hosts_.back()->InProcessChannel();
    train_ = v1::Training::NewStub(ops_channel_);
  }

  // A part of the split as training data (PartCsv's rows, label 1 = bad).
  ml::TrainingData PartData(const std::string& part) {
    ml::TrainingData data;
    data.num_classes = 2;
    data.x.cols = fs_.features_size();
    std::istringstream csv(PartCsv(part));
    std::string line;
    while (std::getline(csv, line)) {
      std::istringstream row(line);
      std::string cell;
      std::getline(row, cell, ',');
      data.y.push_back(std::stod(cell));
      while (std::getline(row, cell, ','))
        data.x.values.push_back(std::stod(cell));
      ++data.x.rows;
    }
    return data;
  }

  testing::TempDir dir_;
  ingest::IngestModule* ingest_ = nullptr;
  events::EventLog* train_log_ = nullptr;
  std::unique_ptr<host::Host> host_;
  std::vector<std::unique_ptr<host::Host>> replica_hosts_;
  // Where training operations run (the coordinator, once StartReplicas).
  std::shared_ptr<grpc::Channel> ops_channel_;
  std::unique_ptr<v1::Prep::Stub> prep_;
  std::unique_ptr<v1::Splits::Stub> splits_;
  std::unique_ptr<v1::Training::Stub> train_;
  v1::Split split_;
  v1::FeatureSet fs_;
};

TEST_F(TrainingServiceTest,
       TrainsCandidatesKeepsTheBestSettingAndStoresModels) {
  auto result = Train(Request(R"({"positive_class": "bad", "candidates": [
      {"name": "logreg", "algorithm": "logistic_regression", "params": {"C": [0.01, 0.1, 1.0]}},
      {"name": "gbdt", "algorithm": "gbdt",
       "params": {"max_depth": [3, 4], "rounds": 60, "eta": 0.1}}]})"));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->models_size(), 2);
  EXPECT_EQ(result->models(0).id(),
            "credit:1");  // Candidates in request order.
  EXPECT_EQ(result->models(0).candidate(), "logreg");
  EXPECT_EQ(result->models(1).id(), "credit:2");
  EXPECT_FALSE(result->best_model().empty());

  // Every trial is tracked with its params and score; the model holds the best.
  auto job = GetJob(result->job());
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::Operation::SUCCEEDED);
  ASSERT_EQ(job->trials_size(), 5);
  double best_logreg = -1;
  std::string best_trial;
  for (const auto& t : job->trials()) {
    EXPECT_EQ(t.state(), v1::Operation::SUCCEEDED) << t.DebugString();
    EXPECT_EQ(t.metric(), "auc");
    EXPECT_GT(t.score(), 0.7);
    EXPECT_GT(t.seconds(), 0);
    EXPECT_EQ(t.worker(), "coordinator");
    if (t.candidate() == "logreg" && t.score() > best_logreg) {
      best_logreg = t.score();
      best_trial = t.id();
    }
  }
  auto logreg = GetModel("credit:1");
  ASSERT_TRUE(logreg.ok()) << logreg.status();
  EXPECT_EQ(logreg->trial_id(), best_trial);
  EXPECT_EQ(logreg->task(), v1::BINARY);
  EXPECT_THAT(logreg->classes(), ::testing::ElementsAre("good", "bad"));
  EXPECT_EQ(logreg->split_id(), split_.id());
  EXPECT_EQ(logreg->feature_set(), fs_.id());
  EXPECT_EQ(logreg->transform_id(), fs_.transform_id());
  EXPECT_GT(logreg->transform().columns_size(), 0);
  EXPECT_EQ(logreg->feature_names_size(), fs_.features_size());
  EXPECT_EQ(logreg->sha256().size(), 71u);  // "sha256:" and 64 hex digits.
  EXPECT_NEAR(eval::Find(logreg->eval_metrics(), "auc"), best_logreg, 1e-12);
  EXPECT_EQ(logreg->train_rows(), split_.parts(0).rows());

  // Quality parity on the same split and features: scikit-learn's
  // LogisticRegression(lbfgs) with the same C on the rows ReadSplit serves.
  testing::TempDir py;
  testing::WriteFile(py.path() + "/train.csv", PartCsv("train"));
  testing::WriteFile(py.path() + "/eval.csv", PartCsv("eval"));
  auto ref = features::testdata::PythonJson(
      "import sys, json\nimport numpy as np\n"
      "from sklearn.linear_model import LogisticRegression\n"
      "from sklearn.metrics import roc_auc_score\n"
      "tr = np.loadtxt(sys.argv[2], delimiter=',')\n"
      "ev = np.loadtxt(sys.argv[3], delimiter=',')\n"
      "m = LogisticRegression(C=float(sys.argv[4]), max_iter=1000).fit(tr[:, "
      "1:], tr[:, 0])\n"
      "print(json.dumps({'auc': roc_auc_score(ev[:, 0], m.predict_proba(ev[:, "
      "1:])[:, 1])}))\n",
      {py.path() + "/train.csv", py.path() + "/eval.csv",
       StrCat(logreg->params().fields().at("C").number_value())});
  EXPECT_NEAR(best_logreg, ref.fields().at("auc").number_value(), 0.002);

  // The stored parameters load and score as recorded.
  auto model = ml::LoadModel(logreg->task(), logreg->feature_names_size(),
                             logreg->classes_size(), logreg->learned());
  ASSERT_TRUE(model.ok()) << model.status();

  // model.trained, once per model.
  uint64_t next = 0;
  auto events = train_log_->Read(1, {"model.trained"}, 10, &next);
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].attributes().at("model"), "credit:1");

  // ListModels: summaries, newest first; ListTrials by score.
  grpc::ClientContext lctx;
  v1::ListModelsRequest list;
  v1::ListModelsResponse models;
  ASSERT_TRUE(train_->ListModels(&lctx, list, &models).ok());
  ASSERT_EQ(models.models_size(), 2);
  EXPECT_EQ(models.models(0).id(), "credit:2");
  EXPECT_FALSE(models.models(0).has_learned());
  grpc::ClientContext tctx;
  v1::ListTrialsRequest tq;
  tq.set_candidate("gbdt");
  tq.set_order_by("score");
  v1::ListTrialsResponse trials;
  ASSERT_TRUE(train_->ListTrials(&tctx, tq, &trials).ok());
  ASSERT_EQ(trials.trials_size(), 2);
  EXPECT_GE(trials.trials(0).score(), trials.trials(1).score());
}

TEST_F(TrainingServiceTest,
       CrossValidatesOnTheSplitsFoldsThenFitsTheWholeTrainPart) {
  auto result = Train(Request(R"({"search": {"folds": 5, "metric": "logloss"},
      "candidates": [{"name": "ridge", "algorithm": "logistic_regression",
                      "params": {"l2": [0.1, 10]}}]})"));
  ASSERT_TRUE(result.ok()) << result.status();
  auto job = GetJob(result->job());
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->trials_size(), 2);
  for (const auto& t : job->trials()) {
    ASSERT_EQ(t.fold_scores_size(), 5);
    double mean = 0;
    for (double v : t.fold_scores()) mean += v / 5;
    EXPECT_NEAR(t.score(), mean, 1e-12);
    EXPECT_EQ(t.metric(), "logloss");
  }
  auto model = GetModel(result->models(0).id());
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(model->train_rows(),
            split_.parts(0).rows());  // Refit on all of train.
  EXPECT_GT(model->eval_metrics_size(), 0);
}

// Changing one candidate retrains that one only: a candidate whose inputs
// an earlier job trained (same data, split, features, search, settings)
// reuses its model and trials; no_cache trains it again.
TEST_F(TrainingServiceTest, AnUnchangedCandidateIsReusedNotTrainedAgain) {
  auto request = [](int rounds) {
    return Request(StrCat(R"({"positive_class": "bad", "candidates": [
      {"name": "logreg", "algorithm": "logistic_regression",
       "params": {"C": [0.1, 1.0]}},
      {"name": "gbdt", "algorithm": "gbdt",
       "params": {"max_depth": 3, "eta": 0.1, "rounds": )",
                          rounds, "}}]}"));
  };
  auto first = Train(request(20));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->cached_candidates().empty());
  auto second = Train(request(30));  // gbdt changed, logreg not.
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->cached_candidates_size(), 1);
  EXPECT_EQ(second->cached_candidates(0), "logreg");
  ASSERT_EQ(second->models_size(), 2);
  EXPECT_EQ(second->models(0).id(), first->models(0).id());  // Reused.
  EXPECT_NE(second->models(1).id(), first->models(1).id());  // Trained.
  EXPECT_EQ(second->models(1).params().fields().at("rounds").number_value(),
            30);
  auto job = GetJob(second->job());
  ASSERT_TRUE(job.ok()) << job.status();
  int reused = 0;
  for (const auto& t : job->trials()) {
    if (t.candidate() != "logreg") {
      EXPECT_TRUE(t.cached_from().empty());
      continue;
    }
    ++reused;
    EXPECT_THAT(t.cached_from(), ::testing::StartsWith(first->job() + "/"));
    EXPECT_EQ(t.job(), second->job());
  }
  EXPECT_EQ(reused, 2);
  // no_cache: every candidate is trained.
  auto fresh = request(30);
  fresh.set_no_cache(true);
  auto third = Train(fresh);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(third->cached_candidates().empty());
  EXPECT_NE(third->models(0).id(), first->models(0).id());
}

TEST_F(TrainingServiceTest, RandomSearchDrawsTheAskedNumberOfTrials) {
  auto result =
      Train(Request(R"({"search": {"type": "random", "trials": 4, "seed": 7},
      "candidates": [{"name": "gbdt", "algorithm": "gbdt",
        "params": {"eta": {"min": 0.05, "max": 0.5, "log": true},
                   "max_depth": {"min": 2, "max": 5, "int": true}, "rounds": 20}}]})"));
  ASSERT_TRUE(result.ok()) << result.status();
  auto job = GetJob(result->job());
  ASSERT_TRUE(job.ok());
  ASSERT_EQ(job->trials_size(), 4);
  for (const auto& t : job->trials()) {
    double eta = t.params().fields().at("eta").number_value();
    double depth = t.params().fields().at("max_depth").number_value();
    EXPECT_GE(eta, 0.05);
    EXPECT_LE(eta, 0.5);
    EXPECT_EQ(depth, std::floor(depth));
  }
}

TEST_F(TrainingServiceTest, BadRequestsNameTheFieldAndStoreNoModel) {
  auto unknown =
      Start(Request(R"({"candidates": [{"name": "a", "algorithm": "svm"}]})"));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(unknown.status().ToString(),
              HasSubstr("candidates[0].algorithm: unknown \"svm\""));
  auto twice =
      Start(Request(R"({"candidates": [{"name": "a", "algorithm": "gbdt"},
                                                {"name": "a", "algorithm": "kmeans"}]})"));
  EXPECT_THAT(twice.status().ToString(),
              HasSubstr("candidates[1].name: \"a\" is used twice"));
  auto range =
      Start(Request(R"({"candidates": [{"name": "a", "algorithm": "gbdt",
                                                 "params": {"eta": {"min": 0.1, "max": 1}}}]})"));
  EXPECT_THAT(range.status().ToString(),
              HasSubstr("candidates[0].params.eta: a range needs"));

  // Found while the job works: the operation fails naming the field.
  auto param = Train(Request(
      R"({"candidates": [{"name": "a", "algorithm": "logistic_regression",
                                                 "params": {"lamda": 1}}]})"));
  EXPECT_EQ(param.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(param.status().ToString(),
              HasSubstr("candidates[0].params.lamda: unknown"));
  auto task = Train(Request(
      R"({"candidates": [{"name": "a", "algorithm": "linear_regression"}]})"));
  EXPECT_THAT(task.status().ToString(),
              HasSubstr("candidates[0].algorithm: linear_regression cannot do "
                        "a binary task"));
  v1::StartTrainingRequest missing =
      Request(R"({"candidates": [{"name": "a", "algorithm": "gbdt"}]})");
  missing.set_split("sp-0000000000000000");
  EXPECT_EQ(Train(missing).status().code(), absl::StatusCode::kNotFound);
  auto cv = Train(Request(R"({"search": {"folds": 3},
                              "candidates": [{"name": "a", "algorithm": "gbdt"}]})"));
  EXPECT_THAT(cv.status().ToString(),
              HasSubstr("search.folds: 3-fold cross-validation needs"));

  grpc::ClientContext ctx;
  v1::ListModelsResponse models;
  ASSERT_TRUE(train_->ListModels(&ctx, {}, &models).ok());
  EXPECT_EQ(models.models_size(), 0);
  EXPECT_EQ(GetModel("credit:1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetModel("credit:x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(TrainingServiceTest, OneFixedCandidateNeedsNoEvalPart) {
  // A split without an eval part (as a time split into train and test).
  auto split = MakeSplit(
      R"({"dataset": "credit", "strategy": "stratified", "label": "Status",
          "seed": 7, "parts": [{"name": "train", "ratio": 0.8},
          {"name": "test", "ratio": 0.2}]})");
  ASSERT_TRUE(split.ok()) << split.status();
  auto request = [&](const std::string& json) {
    v1::StartTrainingRequest r = Request(json);
    r.set_split(split->id());
    return r;
  };
  // Nothing to choose: trained, scored on its training rows.
  auto one = Train(request(R"({"candidates": [{"name": "a",
      "algorithm": "gbdt", "params": {"rounds": 5}}]})"));
  ASSERT_TRUE(one.ok()) << one.status();
  auto model = GetModel(one->best_model());
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->eval_rows(), 0);
  EXPECT_EQ(model->eval_metrics_size(), 0);
  EXPECT_GT(model->train_metrics_size(), 0);
  // Two candidates, or one with a grid: a choice, and nothing to make it on.
  auto two = Train(request(R"({"candidates": [
      {"name": "a", "algorithm": "gbdt", "params": {"rounds": 5}},
      {"name": "b", "algorithm": "logistic_regression"}]})"));
  EXPECT_EQ(two.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(two.status().ToString(),
              HasSubstr("has no eval part to score the 2 trials on"));
  auto grid = Train(request(R"({"candidates": [{"name": "a",
      "algorithm": "gbdt", "params": {"rounds": [5, 10, 20]}}]})"));
  EXPECT_THAT(grid.status().ToString(),
              HasSubstr("has no eval part to score the 3 trials on"));
}

TEST_F(TrainingServiceTest, WatchStreamsProgressAndCancelStopsTheJob) {
  auto op =
      Start(Request(R"({"checkpoint_every": 5, "candidates": [{"name": "slow",
      "algorithm": "gbdt", "params": {"rounds": 100000, "eta": 0.01, "max_depth": 8}}]})"));
  ASSERT_TRUE(op.ok()) << op.status();
  grpc::ClientContext ctx;
  v1::WatchJobRequest w;
  w.set_id(op->id());
  auto reader = train_->WatchJob(&ctx, w);
  v1::TrainingJob job;
  bool cancelled = false;
  int64_t seen_iteration = 0;
  double seen_loss = 0;  // Measured every 100 rounds of a long fit.
  while (reader->Read(&job)) {
    if (job.trials_size() > 0) {
      seen_iteration = std::max(seen_iteration, job.trials(0).iteration());
      seen_loss = job.trials(0).loss();
    }
    if (!cancelled && seen_iteration >= 20 && seen_loss > 0) {
      grpc::ClientContext cctx;
      v1::CancelJobRequest c;
      c.set_id(op->id());
      v1::TrainingJob after;
      ASSERT_TRUE(train_->CancelJob(&cctx, c, &after).ok());
      cancelled = true;
    }
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(cancelled);
  EXPECT_GE(seen_iteration, 20);
  EXPECT_EQ(job.state(), v1::Operation::CANCELLED);
  EXPECT_GT(job.trials(0).loss(), 0);
}

TEST_F(TrainingServiceTest, ResumesAJobFromItsCheckpointAfterARestart) {
  // Stop the service in the middle of a fit (as a crash would), then start
  // it again on the same data: the fit continues from its checkpoint.
  auto op =
      Start(Request(R"({"checkpoint_every": 10, "candidates": [{"name": "gbdt",
      "algorithm": "gbdt", "params": {"rounds": 400, "eta": 0.05, "max_depth": 6}}]})"));
  ASSERT_TRUE(op.ok());
  for (int i = 0; i < 600; ++i) {
    auto job = GetJob(op->id());
    ASSERT_TRUE(job.ok());
    if (job->trials_size() > 0 && job->trials(0).iteration() >= 60) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Boot({});  // Shuts the old host down (the job stays RUNNING), opens again.
  auto result = Finish<v1::TrainingResult>(*op);
  ASSERT_TRUE(result.ok()) << result.status();
  auto job = GetJob(op->id());
  ASSERT_TRUE(job.ok());
  EXPECT_GE(job->trials(0).resumed_from(), 50);
  EXPECT_EQ(job->trials(0).iteration(), 400);
  ASSERT_EQ(result->models_size(), 1);
  EXPECT_EQ(result->models(0).id(), "credit:1");
}

TEST_F(TrainingServiceTest, SpreadsTrialsOverReplicas) {
  // Two replicas and a coordinator, each a train service of its own reading
  // from this host's split and prep; the coordinator sends its trials to
  // the replicas round robin.
  auto start = [&](const std::string& name, TrainModuleOptions o) {
    return StartTrainHost(name, std::move(o));
  };
  std::string a = start("replica0", {}), b = start("replica1", {});
  start("coordinator", {.replicas = StrCat("ipv4:", a, ",", b)});
  train_ = v1::Training::NewStub(replica_hosts_.back()->InProcessChannel());
  auto op = Start(Request(R"({"candidates": [
      {"name": "logreg", "algorithm": "logistic_regression", "params": {"C": [0.1, 1.0]}},
      {"name": "gbdt", "algorithm": "gbdt", "params": {"max_depth": [2, 3], "rounds": 20}}]})"));
  ASSERT_TRUE(op.ok()) << op.status();
  auto ended = ops::WatchToEnd(replica_hosts_.back()->InProcessChannel(), *op);
  ASSERT_TRUE(ended.ok()) << ended.status();
  auto result = ops::OperationResult<v1::TrainingResult>(*ended);
  ASSERT_TRUE(result.ok()) << result.status();
  auto job = GetJob(result->job());
  ASSERT_TRUE(job.ok());
  std::set<std::string> workers;
  for (const auto& t : job->trials()) workers.insert(t.worker());
  EXPECT_THAT(workers, ::testing::ElementsAre("replica0", "replica1"));
  EXPECT_EQ(result->models_size(), 2);
}

TEST_F(TrainingServiceTest, TrainsOneGbdtOverTwoShardsAsWellAsOneProcess) {
  // The same GBDT twice in one job: alone on a replica, and distributed
  // over both replicas, each shard holding half the rows.
  StartReplicas({});
  auto result = Train(Request(R"({"positive_class": "bad", "candidates": [
      {"name": "alone", "algorithm": "gbdt",
       "params": {"max_depth": 3, "rounds": 80, "eta": 0.1}},
      {"name": "sharded", "algorithm": "gbdt", "distributed": {"workers": 2},
       "params": {"max_depth": 3, "rounds": 80, "eta": 0.1}}]})"));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->models_size(), 2);
  auto alone = GetModel(result->models(0).id());
  auto sharded = GetModel(result->models(1).id());
  ASSERT_TRUE(alone.ok() && sharded.ok());
  const double auc_alone = eval::Find(alone->eval_metrics(), "auc");
  const double auc_sharded = eval::Find(sharded->eval_metrics(), "auc");
  std::printf("eval AUC: one process %.5f, two shards %.5f\n", auc_alone,
              auc_sharded);
  EXPECT_GT(auc_alone, 0.8);
  EXPECT_NEAR(auc_sharded, auc_alone, 0.01);
  // Every row once, over the shards; lineage names both workers.
  EXPECT_EQ(sharded->train_rows(), alone->train_rows());
  EXPECT_EQ(sharded->eval_rows(), alone->eval_rows());
  // (Round robin usually puts the ranks on different replicas.)
  EXPECT_THAT(
      sharded->workers(),
      ::testing::ElementsAre(::testing::MatchesRegex("replica. rank 0"),
                             ::testing::MatchesRegex("replica. rank 1")));
  EXPECT_THAT(alone->workers(),
              ::testing::ElementsAre(::testing::StartsWith("replica")));
  auto job = GetJob(result->job());
  ASSERT_TRUE(job.ok());
  for (const auto& t : job->trials()) {
    if (t.candidate() != "sharded") continue;
    EXPECT_EQ(t.state(), v1::Operation::SUCCEEDED);
    EXPECT_EQ(t.worker(), "2 workers");
    ASSERT_EQ(t.shard_peak_rss_bytes_size(), 2);
    EXPECT_GT(t.shard_peak_rss_bytes(1), 0);
    EXPECT_EQ(t.iteration(), 80);
  }
  // The metrics the shards' predictions made are the model's own: it
  // loads and scores the eval part here exactly so.
  auto model = ml::LoadModel(sharded->task(), sharded->feature_names_size(),
                             sharded->classes_size(), sharded->learned());
  ASSERT_TRUE(model.ok()) << model.status();
  auto scores = eval::Score(**model, PartData("eval"), 1);
  ASSERT_TRUE(scores.ok()) << scores.status();
  EXPECT_NEAR(eval::Find(*scores, "auc"), auc_sharded, 1e-9);
  EXPECT_NEAR(eval::Find(*scores, "logloss"),
              eval::Find(sharded->eval_metrics(), "logloss"), 1e-9);
}

// The shard processes this test process runs (the replicas' children).
std::vector<pid_t> ShardProcesses() {
  std::vector<pid_t> out;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    stat >> pid >> comm >> state >> ppid;
    if (ppid == getpid() && comm == "(mlpipe-train-sh)")
      out.push_back(std::stoi(pid));
  }
  return out;
}

// Waits until a sharded trial of `job` is past `iteration`, then sends one
// shard process `signal`; its pid (0 when none was found in time).
pid_t KillAShardPast(v1::Training::Stub& train, const std::string& job,
                     int iteration, int signal = SIGKILL) {
  int64_t seen = -1;
  size_t shards = 0;
  for (int i = 0; i < 3000; ++i) {
    grpc::ClientContext ctx;
    v1::GetJobRequest req;
    req.set_id(job);
    v1::TrainingJob j;
    if (train.GetJob(&ctx, req, &j).ok() && j.trials_size() > 0)
      seen = j.trials(0).iteration();
    auto pids = ShardProcesses();
    shards = pids.size();
    if (seen >= iteration && pids.size() == 2) {
      kill(pids[1], signal);
      return pids[1];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "iteration " << seen << ", " << shards << " shard processes";
  return 0;
}

TEST_F(TrainingServiceTest,
       AShardKilledFailsTheAttemptNamingItAndTheTrialResumesFromACheckpoint) {
  StartReplicas({});
  const char* request = R"({"positive_class": "bad", "checkpoint_every": 20,
      "candidates": [{"name": "sharded", "algorithm": "gbdt",
       "distributed": {"workers": 2},
       "params": {"max_depth": 5, "rounds": 1500, "eta": 0.01}}]})";
  auto op = Start(Request(request));
  ASSERT_TRUE(op.ok()) << op.status();
  // Past 110: rank 0 reports in order (progress 100, its checkpoint at
  // 100, progress 110), so the checkpoint at 100 is stored by then.
  const pid_t killed = KillAShardPast(*train_, op->id(), 120);
  ASSERT_GT(killed, 0) << "no shard process to kill mid-fit";
  auto result = Finish<v1::TrainingResult>(*op);
  ASSERT_TRUE(result.ok()) << result.status();
  auto job = GetJob(op->id());
  ASSERT_TRUE(job.ok());
  const v1::Trial& t = job->trials(0);
  EXPECT_EQ(t.state(), v1::Operation::SUCCEEDED);
  ASSERT_EQ(t.retried_after_size(), 1) << t.DebugString();
  // "attempt 1: worker replica1 rank 1 of 2 was lost: its shard process
  // (pid N) was killed by signal 9"
  EXPECT_THAT(
      t.retried_after(0),
      ::testing::AllOf(
          HasSubstr("attempt 1: worker replica"), HasSubstr("was lost"),
          HasSubstr(StrCat("pid ", killed, ") was killed by signal 9"))));
  EXPECT_GE(t.resumed_from(), 100);
  EXPECT_EQ(t.iteration(), 1500);
  std::printf("retried after: %s\nresumed from iteration %lld\n",
              t.retried_after(0).c_str(),
              static_cast<long long>(t.resumed_from()));
  auto model = GetModel(result->models(0).id());
  ASSERT_TRUE(model.ok());
  EXPECT_GT(eval::Find(model->eval_metrics(), "auc"), 0.75);
  // Counted: the lost attempt, then the one that succeeded.
  const std::string text =
      prometheus::TextSerializer().Serialize(metrics::Registry().Collect());
  EXPECT_THAT(text, HasSubstr("mlpipe_train_distributed_attempts_total{"
                              "outcome=\"worker_lost\"}"));
  EXPECT_THAT(text, HasSubstr("mlpipe_train_distributed_attempts_total{"
                              "outcome=\"succeeded\"}"));
}

TEST_F(TrainingServiceTest, AShardKilledWithNoAttemptLeftFailsTheTrialClearly) {
  TrainModuleOptions coordinator;
  coordinator.trainer.shard_attempts = 1;
  StartReplicas(coordinator);
  auto op = Start(Request(R"({"positive_class": "bad", "candidates": [
      {"name": "sharded", "algorithm": "gbdt", "distributed": {"workers": 2},
       "params": {"max_depth": 5, "rounds": 1500, "eta": 0.01}}]})"));
  ASSERT_TRUE(op.ok()) << op.status();
  const pid_t killed = KillAShardPast(*train_, op->id(), 50);
  ASSERT_GT(killed, 0);
  auto result = Finish<v1::TrainingResult>(*op);
  ASSERT_FALSE(result.ok());
  std::printf("%s\n", result.status().ToString().c_str());
  EXPECT_THAT(std::string(result.status().message()),
              ::testing::AllOf(HasSubstr("candidate sharded: every trial "
                                         "failed: distributed fit failed 1 "
                                         "time(s); the last: worker replica"),
                               HasSubstr(StrCat("pid ", killed,
                                                ") was killed by signal 9"))));
  for (int i = 0; i < 50 && !ShardProcesses().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(ShardProcesses().empty());  // The other shard ended too.
}

TEST_F(TrainingServiceTest, AFrozenShardIsPresumedLostAfterItsSilence) {
  // A shard process stopped (SIGSTOP: no crash, no reset, no heartbeat), as
  // a replica whose node vanished: the attempt fails naming it.
  TrainModuleOptions coordinator;
  coordinator.trainer.shard_attempts = 1;
  coordinator.trainer.shard_silence_seconds = 3;
  StartReplicas(coordinator);
  auto op = Start(Request(R"({"positive_class": "bad", "candidates": [
      {"name": "sharded", "algorithm": "gbdt", "distributed": {"workers": 2},
       "params": {"max_depth": 5, "rounds": 1500, "eta": 0.01}}]})"));
  ASSERT_TRUE(op.ok()) << op.status();
  const pid_t frozen = KillAShardPast(*train_, op->id(), 50, SIGSTOP);
  ASSERT_GT(frozen, 0);
  auto result = Finish<v1::TrainingResult>(*op);
  ASSERT_FALSE(result.ok());
  std::printf("%s\n", result.status().ToString().c_str());
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("sent nothing for 3 s; presumed lost"));
  // Both killed, even the stopped one: the replicas see the calls
  // cancelled and kill their children (within their 100 ms poll).
  for (int i = 0; i < 50 && !ShardProcesses().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(ShardProcesses().empty());
}

TEST_F(TrainingServiceTest, DistributedCandidatesAreCheckedUpFront) {
  auto bad = [&](const std::string& json) {
    auto op = Start(Request(json));
    return op.ok() ? absl::OkStatus() : op.status();
  };
  EXPECT_THAT(std::string(bad(R"({"candidates": [{"name": "l", "algorithm":
          "logistic_regression", "distributed": {"workers": 2}}]})")
                              .message()),
              HasSubstr("candidates[0].distributed: only gbdt"));
  EXPECT_THAT(std::string(bad(R"({"candidates": [{"name": "g", "algorithm":
          "gbdt", "distributed": {"workers": 65}}]})")
                              .message()),
              HasSubstr("candidates[0].distributed.workers: 1..64"));
  // No replicas to spread the shards over: the job fails saying so.
  auto result = Train(Request(R"({"candidates": [{"name": "g", "algorithm":
      "gbdt", "distributed": {"workers": 2}, "params": {"rounds": 5}}]})"));
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              HasSubstr("no train replicas to spread the shards over"));
}

}  // namespace
}  // namespace mlpipe::train
