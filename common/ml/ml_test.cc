// common/ml against the peers a user would otherwise use: the same features
// and rows go to scikit-learn / XGBoost's Python API (Debian's
// /usr/bin/python3), and the results must agree.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iomanip>

#include "common/eval/score.h"
#include "common/features/test_data.h"
#include "common/features/transform.h"
#include "common/ml/algorithms.h"
#include "common/ml/lbfgs.h"
#include "common/ml/model.h"
#include "common/ml/table_data.h"
#include "common/ml/ubjson.h"
#include "common/table/frame_codec.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::ml {
namespace {

using ::testing::HasSubstr;

// Features of an example CSV: numbers imputed (median) and standardized,
// strings imputed (mode) and one-hot encoded, the transform fitted on the
// training rows (every row but each fifth); the fifth rows are the eval part.
struct Example {
  TrainingData train;
  TrainingData eval;
  std::vector<std::string> classes;
};

Example Featurize(const std::string& csv, const std::string& label,
                  v1::Task task, const std::string& positive = "") {
  table::Table all = features::testdata::Example(csv);
  std::vector<features::TransformSpec> specs;
  for (const auto& c : all.columns) {
    if (c.name == label) continue;
    features::TransformSpec s;
    s.columns = {c.name};
    s.impute.emplace();
    if (c.type == table::ColumnType::kNumeric) {
      s.impute->set_strategy(v1::ImputeStep::MEDIAN);
      s.scale = "standard";
    } else {
      s.impute->set_strategy(v1::ImputeStep::MODE);
      s.one_hot_max_categories = 0;
    }
    specs.push_back(s);
  }
  table::Table train_rows, eval_rows;
  for (const auto& c : all.columns) {
    table::Column t, e;
    t.name = e.name = c.name;
    for (size_t r = 0; r < all.num_rows; ++r)
      (r % 5 == 0 ? e : t).AppendRows(c, r, 1);
    train_rows.columns.push_back(std::move(t));
    eval_rows.columns.push_back(std::move(e));
  }
  train_rows.num_rows = train_rows.columns[0].size();
  eval_rows.num_rows = eval_rows.columns[0].size();
  auto fitted = features::FitTransform(specs, train_rows);
  EXPECT_TRUE(fitted.ok()) << fitted.status();
  features::TransformApplier applier(*fitted);
  Example ex;
  if (task == v1::BINARY || task == v1::MULTICLASS) {
    int li = all.Find(label);
    std::set<std::string> seen;
    for (size_t r = 0; r < all.num_rows; ++r) {
      if (all.columns[li].IsValid(r)) seen.insert(all.columns[li].strings[r]);
    }
    ex.classes.assign(seen.begin(), seen.end());
    if (!positive.empty()) {
      std::erase(ex.classes, positive);
      ex.classes.push_back(positive);
    }
  }
  for (auto [rows, out] :
       {std::pair{&train_rows, &ex.train}, {&eval_rows, &ex.eval}}) {
    auto features = applier.ApplyBatch(*rows);
    EXPECT_TRUE(features.ok()) << features.status();
    features->columns.push_back(rows->columns[rows->Find(label)]);
    TrainingDataBuilder b(applier.output_names(),
                          task == v1::CLUSTERING ? "" : label,
                          LabelEncoder(task, ex.classes));
    EXPECT_TRUE(b.Append(*features).ok());
    *out = b.Finish();
  }
  return ex;
}

// label first, then the features, full precision.
void WriteCsv(const std::string& path, const TrainingData& d) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  for (size_t i = 0; i < d.rows(); ++i) {
    std::fprintf(f, "%.17g", d.y.empty() ? 0.0 : d.y[i]);
    for (size_t j = 0; j < d.x.cols; ++j)
      std::fprintf(f, ",%.17g", d.x.Row(i)[j]);
    std::fprintf(f, "\n");
  }
  std::fclose(f);
}

// Runs `script` with argv[2] = train.csv, argv[3] = eval.csv, then `args`.
google::protobuf::Struct Reference(const Example& ex, const std::string& script,
                                   std::vector<std::string> args = {}) {
  testing::TempDir dir;
  WriteCsv(dir.path() + "/train.csv", ex.train);
  WriteCsv(dir.path() + "/eval.csv", ex.eval);
  return features::testdata::PythonJson(
      "import sys, json, warnings\nimport numpy as np\n"
      "warnings.filterwarnings('ignore')\n"
      "tr = np.loadtxt(sys.argv[2], delimiter=',', ndmin=2)\n"
      "ev = np.loadtxt(sys.argv[3], delimiter=',', ndmin=2)\n"
      "Xt, yt, Xe, ye = tr[:, 1:], tr[:, 0], ev[:, 1:], ev[:, 0]\n" +
          script,
      [&] {
        args.insert(args.begin(),
                    {dir.path() + "/train.csv", dir.path() + "/eval.csv"});
        return args;
      }());
}

double Number(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  EXPECT_NE(it, s.fields().end()) << key;
  return it == s.fields().end() ? NAN : it->second.number_value();
}

google::protobuf::Struct ParamsOf(
    std::initializer_list<std::pair<const char*, google::protobuf::Value>> kv) {
  google::protobuf::Struct s;
  for (const auto& [k, v] : kv) (*s.mutable_fields())[k] = v;
  return s;
}

google::protobuf::Value Num(double v) {
  google::protobuf::Value x;
  x.set_number_value(v);
  return x;
}
google::protobuf::Value Str(const std::string& v) {
  google::protobuf::Value x;
  x.set_string_value(v);
  return x;
}

std::unique_ptr<Model> MustFit(const std::string& algorithm,
                               const google::protobuf::Struct& params,
                               const TrainingData& train, v1::Task task,
                               FitOptions options = {}) {
  options.task = task;
  if (options.threads < 1) options.threads = 2;
  auto model = Fit(algorithm, params, "params", train, options);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? std::move(*model) : nullptr;
}

double EvalAuc(const Model& model, const TrainingData& eval) {
  auto scores = eval::Score(model, eval, 2);
  EXPECT_TRUE(scores.ok()) << scores.status();
  return eval::Find(*scores, "auc");
}

constexpr char kSklearnLogistic[] =
    "from sklearn.linear_model import LogisticRegression\n"
    "from sklearn.metrics import roc_auc_score\n"
    "m = LogisticRegression(C=float(sys.argv[4]), solver='lbfgs', "
    "max_iter=1000)"
    ".fit(Xt, yt)\n"
    "print(json.dumps({'auc': roc_auc_score(ye, m.predict_proba(Xe)[:, "
    "1])}))\n";

constexpr char kPythonXgboost[] =
    "import xgboost as xgb\n"
    "from sklearn.metrics import roc_auc_score\n"
    "p = {'objective': 'binary:logistic', 'max_depth': 4, 'eta': 0.1, "
    "'tree_method': 'hist', 'nthread': 2, 'seed': 0}\n"
    "b = xgb.train(p, xgb.DMatrix(Xt, label=yt), num_boost_round=100)\n"
    "print(json.dumps({'auc': roc_auc_score(ye, "
    "b.predict(xgb.DMatrix(Xe)))}))\n";

google::protobuf::Struct GbdtParams() {
  return ParamsOf(
      {{"max_depth", Num(4)}, {"eta", Num(0.1)}, {"rounds", Num(100)}});
}

class ParityTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ParityTest, LogisticRegressionAucMatchesScikitLearn) {
  bool credit = std::string(GetParam()) == "credit";
  Example ex = credit
                   ? Featurize("credit/credit.csv", "Status", v1::BINARY, "bad")
                   : Featurize("churn/churn.csv", "churn", v1::BINARY, "yes");
  for (double c : {0.1, 1.0}) {
    auto model = MustFit("logistic_regression", ParamsOf({{"C", Num(c)}}),
                         ex.train, v1::BINARY);
    ASSERT_NE(model, nullptr);
    auto ref = Reference(ex, kSklearnLogistic, {std::to_string(c)});
    double ours = EvalAuc(*model, ex.eval);
    EXPECT_NEAR(ours, Number(ref, "auc"), 0.002) << GetParam() << " C=" << c;
    EXPECT_GT(ours, 0.75);
  }
}

TEST_P(ParityTest, GbdtAucMatchesPythonXgboost) {
  bool credit = std::string(GetParam()) == "credit";
  Example ex = credit
                   ? Featurize("credit/credit.csv", "Status", v1::BINARY, "bad")
                   : Featurize("churn/churn.csv", "churn", v1::BINARY, "yes");
  auto model = MustFit("gbdt", GbdtParams(), ex.train, v1::BINARY);
  ASSERT_NE(model, nullptr);
  auto ref = Reference(ex, kPythonXgboost);
  double ours = EvalAuc(*model, ex.eval);
  EXPECT_NEAR(ours, Number(ref, "auc"), 0.002) << GetParam();
  EXPECT_GT(ours, 0.8);
}

constexpr char kSklearnForest[] =
    "from sklearn.ensemble import RandomForestClassifier\n"
    "from sklearn.metrics import roc_auc_score, log_loss\n"
    "m = RandomForestClassifier(n_estimators=100, random_state=0, "
    "n_jobs=2).fit(Xt, yt)\n"
    "p = m.predict_proba(Xe)[:, 1]\n"
    "print(json.dumps({'auc': roc_auc_score(ye, p), "
    "'logloss': log_loss(ye, p.clip(1e-6, 1 - 1e-6)), "
    "'max_p': float(p.max())}))\n";

// Defaults that give what scikit-learn's RandomForestClassifier gives: AUC
// within 0.01, log loss within 20%, probabilities that reach near 1 (the
// logistic forest's stopped at 0.88).
TEST_P(ParityTest, RandomForestMatchesScikitLearnsForest) {
  bool credit = std::string(GetParam()) == "credit";
  Example ex = credit
                   ? Featurize("credit/credit.csv", "Status", v1::BINARY, "bad")
                   : Featurize("churn/churn.csv", "churn", v1::BINARY, "yes");
  auto model = MustFit("random_forest", {}, ex.train, v1::BINARY);
  ASSERT_NE(model, nullptr);
  auto ref = Reference(ex, kSklearnForest);
  auto scores = eval::Score(*model, ex.eval, 2);
  ASSERT_TRUE(scores.ok()) << scores.status();
  const double auc = eval::Find(*scores, "auc");
  const double logloss = eval::Find(*scores, "logloss");
  EXPECT_GT(auc, Number(ref, "auc") - 0.01) << GetParam();
  EXPECT_LT(logloss, 1.2 * Number(ref, "logloss")) << GetParam();
  std::vector<double> p;
  ASSERT_TRUE(model->Predict(ex.eval.x, &p).ok());
  const double max_p = *std::max_element(p.begin(), p.end());
  std::cout << GetParam() << ": random forest AUC " << auc << " log loss "
            << logloss << " max P " << max_p << "; scikit-learn's "
            << Number(ref, "auc") << " " << Number(ref, "logloss") << " "
            << Number(ref, "max_p") << "\n";
  EXPECT_GT(max_p, 0.9) << "sklearn's: " << Number(ref, "max_p");
  EXPECT_LE(max_p, 1.0);
}

INSTANTIATE_TEST_SUITE_P(Data, ParityTest,
                         ::testing::Values("credit", "churn"));

// Multiclass as scikit-learn's forest too: accuracy within 0.01, log loss
// within 20%, and probabilities that separate what the forest separates
// (softprob's forest stopped at P 0.83 on penguins).
TEST(RandomForestTest, MulticlassMatchesScikitLearnsForestOnPenguins) {
  Example ex = Featurize("penguins/penguins.csv", "species", v1::MULTICLASS);
  ASSERT_EQ(ex.classes.size(), 3u);
  auto model = MustFit("random_forest", {}, ex.train, v1::MULTICLASS);
  ASSERT_NE(model, nullptr);
  auto ref = Reference(
      ex,
      "from sklearn.ensemble import RandomForestClassifier\n"
      "from sklearn.metrics import accuracy_score, log_loss\n"
      "m = RandomForestClassifier(n_estimators=100, random_state=0, "
      "n_jobs=2).fit(Xt, yt)\n"
      "p = m.predict_proba(Xe)\n"
      "print(json.dumps({'accuracy': accuracy_score(ye, p.argmax(1)), "
      "'logloss': log_loss(ye, p.clip(1e-6, 1 - 1e-6)), "
      "'max_p': float(p.max())}))\n");
  auto scores = eval::Score(*model, ex.eval, 2);
  ASSERT_TRUE(scores.ok()) << scores.status();
  const double accuracy = eval::Find(*scores, "accuracy");
  const double logloss = eval::Find(*scores, "logloss");
  std::vector<double> p;
  ASSERT_TRUE(model->Predict(ex.eval.x, &p).ok());
  ASSERT_EQ(p.size(), ex.eval.rows() * 3);
  for (size_t r = 0; r < ex.eval.rows(); ++r) {
    EXPECT_NEAR(p[3 * r] + p[3 * r + 1] + p[3 * r + 2], 1.0, 1e-9) << r;
  }
  const double max_p = *std::max_element(p.begin(), p.end());
  std::cout << "penguins: random forest accuracy " << accuracy << " log loss "
            << logloss << " max P " << max_p << "; scikit-learn's "
            << Number(ref, "accuracy") << " " << Number(ref, "logloss") << " "
            << Number(ref, "max_p") << "\n";
  EXPECT_GT(accuracy, Number(ref, "accuracy") - 0.01);
  EXPECT_LT(logloss, 1.2 * Number(ref, "logloss"));
  EXPECT_GT(max_p, 0.95);
  EXPECT_LE(max_p, 1.0);
}

// A class the training rows lack gets probability 0, and every row's
// probabilities still sum to 1.
TEST(RandomForestTest, AClassWithoutTrainingRowsGetsNoProbability) {
  Example ex = Featurize("penguins/penguins.csv", "species", v1::MULTICLASS);
  TrainingData two = ex.train;
  two.x.values.clear();
  two.y.clear();
  two.weights.clear();
  two.x.rows = 0;
  for (size_t r = 0; r < ex.train.rows(); ++r) {
    if (ex.train.y[r] == 2) continue;
    two.x.values.insert(two.x.values.end(), ex.train.x.Row(r),
                        ex.train.x.Row(r) + ex.train.x.cols);
    two.y.push_back(ex.train.y[r]);
    ++two.x.rows;
  }
  ASSERT_EQ(two.num_classes, 3);
  auto model = MustFit("random_forest", ParamsOf({{"trees", Num(20)}}), two,
                       v1::MULTICLASS);
  ASSERT_NE(model, nullptr);
  std::vector<double> p;
  ASSERT_TRUE(model->Predict(ex.eval.x, &p).ok());
  ASSERT_EQ(p.size(), ex.eval.rows() * 3);
  for (size_t r = 0; r < ex.eval.rows(); ++r) {
    EXPECT_EQ(p[3 * r + 2], 0.0) << r;
    EXPECT_NEAR(p[3 * r] + p[3 * r + 1], 1.0, 1e-9) << r;
  }
}

TEST(RidgeTest, CoefficientsEqualScikitLearnOnAmes) {
  Example ex = Featurize("ames/ames.csv", "Sale_Price", v1::REGRESSION);
  auto model = MustFit("linear_regression", ParamsOf({{"alpha", Num(1.0)}}),
                       ex.train, v1::REGRESSION);
  ASSERT_NE(model, nullptr);
  auto ref = Reference(ex,
                       "from sklearn.linear_model import Ridge\n"
                       "m = Ridge(alpha=1.0).fit(Xt, yt)\n"
                       "print(json.dumps({'coef': list(m.coef_), "
                       "'intercept': m.intercept_}))\n");
  v1::LearnedParameters p = model->Parameters();
  const auto& coef = ref.fields().at("coef").list_value();
  ASSERT_EQ(coef.values_size(), p.linear().weights_size());
  ASSERT_GT(coef.values_size(), 100);  // One-hot columns included.
  double worst = 0;
  for (int j = 0; j < coef.values_size(); ++j) {
    double want = coef.values(j).number_value();
    worst = std::max(worst, std::abs(p.linear().weights(j) - want) /
                                std::max(1.0, std::abs(want)));
  }
  EXPECT_LT(worst, 1e-6);
  double want_b = Number(ref, "intercept");
  EXPECT_NEAR(p.linear().intercepts(0), want_b, 1e-6 * std::abs(want_b));

  // The L-BFGS solver reaches the same minimum.
  auto lbfgs = MustFit("linear_regression",
                       ParamsOf({{"alpha", Num(1.0)},
                                 {"solver", Str("lbfgs")},
                                 {"max_iter", Num(20000)},
                                 {"tol", Num(1e-10)}}),
                       ex.train, v1::REGRESSION);
  ASSERT_NE(lbfgs, nullptr);
  auto a = eval::Score(*model, ex.eval, 2), b = eval::Score(*lbfgs, ex.eval, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NEAR(eval::Find(*a, "r2"), eval::Find(*b, "r2"), 1e-4);
}

TEST(KMeansTest, InertiaWithinOnePercentOfScikitLearn) {
  Example ex = Featurize("penguins/penguins.csv", "species", v1::CLUSTERING);
  for (int k : {3, 6}) {
    auto model =
        MustFit("kmeans", ParamsOf({{"k", Num(k)}, {"n_init", Num(10)}}),
                ex.train, v1::CLUSTERING);
    ASSERT_NE(model, nullptr);
    auto ref = Reference(ex,
                         "from sklearn.cluster import KMeans\n"
                         "m = KMeans(n_clusters=int(sys.argv[4]), n_init=10, "
                         "random_state=0).fit(Xt)\n"
                         "print(json.dumps({'inertia': m.inertia_}))\n",
                         {std::to_string(k)});
    double ours = model->Parameters().clusters().inertia();
    double want = Number(ref, "inertia");
    EXPECT_LT(ours, want * 1.01) << "k=" << k;
    EXPECT_GT(ours, want * 0.99) << "k=" << k;
    auto scores = eval::Score(*model, ex.train, 2);
    ASSERT_TRUE(scores.ok());
    EXPECT_NEAR(eval::Find(*scores, "inertia"), ours, 1e-9 * ours);
  }
}

TEST(SoftmaxTest, LoglossMatchesScikitLearnMultinomial) {
  Example ex = Featurize("penguins/penguins.csv", "species", v1::MULTICLASS);
  ASSERT_EQ(ex.classes.size(), 3u);
  auto model = MustFit("softmax_regression", ParamsOf({{"C", Num(1.0)}}),
                       ex.train, v1::MULTICLASS);
  ASSERT_NE(model, nullptr);
  auto ref = Reference(
      ex,
      "from sklearn.linear_model import LogisticRegression\n"
      "from sklearn.metrics import log_loss\n"
      "m = LogisticRegression(C=1.0, max_iter=5000, tol=1e-10)"
      ".fit(Xt, yt)\n"
      "print(json.dumps({'logloss': log_loss(ye, m.predict_proba(Xe))}))\n");
  auto scores = eval::Score(*model, ex.eval, 2);
  ASSERT_TRUE(scores.ok());
  EXPECT_NEAR(eval::Find(*scores, "logloss"), Number(ref, "logloss"), 1e-4);
  EXPECT_GT(eval::Find(*scores, "accuracy"), 0.95);
}

// Sum of log losses + ||w||_1 / C (the intercept is not penalized).
double L1Objective(const TrainingData& d, const std::vector<double>& w,
                   double b, double c) {
  double f = 0;
  for (size_t i = 0; i < d.rows(); ++i) {
    double z = b;
    for (size_t j = 0; j < d.x.cols; ++j) z += w[j] * d.x.Row(i)[j];
    f += (z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z))) -
         d.y[i] * z;
  }
  for (double v : w) f += std::abs(v) / c;
  return f;
}

TEST(LogisticL1Test, ReachesScikitLearnSagaObjectiveAndSparsity) {
  Example ex = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  auto l1 = MustFit("logistic_regression",
                    ParamsOf({{"l1", Num(100.0)}, {"tol", Num(1e-9)}}),
                    ex.train, v1::BINARY);
  ASSERT_NE(l1, nullptr);
  auto ref = Reference(
      ex,
      "from sklearn.linear_model import LogisticRegression\n"
      "from sklearn.metrics import roc_auc_score\n"
      "m = LogisticRegression(penalty='l1', C=0.01, solver='saga', "
      "tol=1e-9, max_iter=100000).fit(Xt, yt)\n"
      "print(json.dumps({'auc': roc_auc_score(ye, m.predict_proba(Xe)[:, 1]),"
      " 'coef': list(m.coef_[0]), 'intercept': m.intercept_[0]}))\n");
  v1::LinearParameters ours = l1->Parameters().linear();
  std::vector<double> w(ours.weights().begin(), ours.weights().end()), theirs;
  for (const auto& v : ref.fields().at("coef").list_value().values()) {
    theirs.push_back(v.number_value());
  }
  double f_ours = L1Objective(ex.train, w, ours.intercepts(0), 0.01);
  double f_theirs =
      L1Objective(ex.train, theirs, Number(ref, "intercept"), 0.01);
  EXPECT_LT(f_ours, f_theirs * (1 + 1e-6))
      << std::setprecision(12) << f_ours << " " << f_theirs;
  int nonzero = 0, nonzero_theirs = 0;
  for (double v : w) nonzero += v != 0;
  for (double v : theirs) nonzero_theirs += std::abs(v) > 1e-6;
  EXPECT_LT(nonzero, static_cast<int>(ex.train.x.cols) / 2);
  EXPECT_LE(nonzero, nonzero_theirs + 1);
  EXPECT_NEAR(EvalAuc(*l1, ex.eval), Number(ref, "auc"), 0.002);
}

TEST(ModelTest, EveryAlgorithmRoundTripsThroughItsParameters) {
  Example bin = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  Example multi = Featurize("penguins/penguins.csv", "species", v1::MULTICLASS);
  Example reg = Featurize("ames/ames.csv", "Sale_Price", v1::REGRESSION);
  struct Case {
    const char* algorithm;
    v1::Task task;
    const Example* ex;
  };
  for (const Case& c :
       std::vector<Case>{{"logistic_regression", v1::BINARY, &bin},
                         {"softmax_regression", v1::MULTICLASS, &multi},
                         {"linear_regression", v1::REGRESSION, &reg},
                         {"kmeans", v1::CLUSTERING, &multi},
                         {"gbdt", v1::BINARY, &bin},
                         {"gbdt", v1::MULTICLASS, &multi},
                         {"gbdt", v1::REGRESSION, &reg},
                         {"random_forest", v1::BINARY, &bin},
                         {"random_forest", v1::MULTICLASS, &multi}}) {
    SCOPED_TRACE(c.algorithm);
    auto params = ParamsOf({});
    if (std::string(c.algorithm) == "gbdt")
      params = ParamsOf({{"rounds", Num(20)}});
    if (std::string(c.algorithm) == "random_forest")
      params = ParamsOf({{"trees", Num(20)}});
    if (std::string(c.algorithm) == "kmeans")
      params = ParamsOf({{"k", Num(3)}});
    auto model = MustFit(c.algorithm, params, c.ex->train, c.task);
    ASSERT_NE(model, nullptr);
    std::string bytes;
    ASSERT_TRUE(model->Parameters().SerializeToString(&bytes));
    v1::LearnedParameters back;
    ASSERT_TRUE(back.ParseFromString(bytes));
    auto loaded =
        LoadModel(c.task, c.ex->train.x.cols, c.ex->train.num_classes, back);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    std::vector<double> a, b;
    ASSERT_TRUE(model->Predict(c.ex->eval.x, &a).ok());
    ASSERT_TRUE((*loaded)->Predict(c.ex->eval.x, &b).ok());
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.size(), c.ex->eval.rows() * model->OutputWidth());
  }
}

// Serving predicts a row at a time with mlpipe's own tree walk; it must
// give what XGBoost gives for the same rows in one batch, bit for bit, with
// missing values too.
TEST(ModelTest, SmallBatchesWalkTheTreesBitForBitAsXgboost) {
  Example bin = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  Example multi = Featurize("penguins/penguins.csv", "species", v1::MULTICLASS);
  Example reg = Featurize("ames/ames.csv", "Sale_Price", v1::REGRESSION);
  struct Case {
    const char* algorithm;
    v1::Task task;
    const Example* ex;
    bool flat;
  };
  for (const Case& c :
       std::vector<Case>{{"gbdt", v1::BINARY, &bin, true},
                         {"gbdt", v1::REGRESSION, &reg, true},
                         {"random_forest", v1::BINARY, &bin, true},
                         {"gbdt", v1::MULTICLASS, &multi, false}}) {
    SCOPED_TRACE(std::string(c.algorithm) + " " + v1::Task_Name(c.task));
    auto params = std::string(c.algorithm) == "gbdt"
                      ? ParamsOf({{"rounds", Num(60)}, {"max_depth", Num(6)}})
                      : ParamsOf({{"trees", Num(30)}});
    auto fitted = MustFit(c.algorithm, params, c.ex->train, c.task);
    ASSERT_NE(fitted, nullptr);
    auto model = LoadModel(c.task, c.ex->train.x.cols, c.ex->train.num_classes,
                           fitted->Parameters());
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_EQ(internal::UsesFlatForest(**model), c.flat);
    // The eval rows, and the same with every 7th value missing.
    std::vector<double> x = c.ex->eval.x.values;
    const size_t d = c.ex->eval.x.cols, n = c.ex->eval.rows();
    x.insert(x.end(), c.ex->eval.x.values.begin(), c.ex->eval.x.values.end());
    for (size_t i = n * d; i < x.size(); i += 7) x[i] = NAN;
    MatrixView all(x.data(), 2 * n, d);
    ASSERT_GT(all.rows, 16u);
    std::vector<double> batch, one;
    ASSERT_TRUE((*model)->Predict(all, &batch).ok());
    const int w = (*model)->OutputWidth();
    for (size_t r = 0; r < all.rows; ++r) {
      ASSERT_TRUE((*model)->Predict(all.Rows(r, r + 1), &one).ok());
      ASSERT_EQ(one.size(), static_cast<size_t>(w));
      for (int k = 0; k < w; ++k)
        ASSERT_EQ(std::memcmp(&one[k], &batch[r * w + k], sizeof(double)), 0)
            << "row " << r << ": " << one[k] << " vs " << batch[r * w + k];
    }
  }
}

TEST(ModelTest, ResumedFitsEndWhereUninterruptedOnesDo) {
  Example ex = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  for (const char* algorithm : {"gbdt", "logistic_regression"}) {
    SCOPED_TRACE(algorithm);
    auto params =
        std::string(algorithm) == "gbdt" ? GbdtParams() : ParamsOf({});
    auto whole = MustFit(algorithm, params, ex.train, v1::BINARY);
    // Stop after the first checkpoint (as a crash would), then resume.
    std::optional<Checkpoint> saved;
    FitOptions o;
    o.task = v1::BINARY;
    o.threads = 2;
    o.checkpoint_every = std::string(algorithm) == "gbdt" ? 30 : 5;
    o.on_checkpoint = [&](const Checkpoint& cp) {
      saved = cp;
      return absl::AbortedError("simulated crash");
    };
    auto stopped = Fit(algorithm, params, "params", ex.train, o);
    EXPECT_EQ(stopped.status().code(), absl::StatusCode::kAborted);
    ASSERT_TRUE(saved.has_value());
    EXPECT_EQ(saved->iteration, o.checkpoint_every);
    o.on_checkpoint = nullptr;
    o.resume = &*saved;
    auto resumed = Fit(algorithm, params, "params", ex.train, o);
    ASSERT_TRUE(resumed.ok()) << resumed.status();
    std::vector<double> a, b;
    ASSERT_TRUE(whole->Predict(ex.eval.x, &a).ok());
    ASSERT_TRUE((*resumed)->Predict(ex.eval.x, &b).ok());
    ASSERT_EQ(a.size(), b.size());
    // Trees continue exactly; L-BFGS restarts its curvature memory, so it
    // stops at the same minimum within its tolerance.
    double tolerance = std::string(algorithm) == "gbdt" ? 1e-6 : 1e-3;
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(a[i], b[i], tolerance) << i;
  }
}

TEST(ModelTest, TreesHandBackTheirCachedTrainingPredictions) {
  Example ex = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  std::vector<double> cached, fresh;
  FitOptions o;
  o.train_predictions = &cached;
  auto model = MustFit("gbdt", GbdtParams(), ex.train, v1::BINARY, o);
  ASSERT_NE(model, nullptr);
  ASSERT_TRUE(model->Predict(ex.train.x, &fresh).ok());
  ASSERT_EQ(cached.size(), fresh.size());
  for (size_t i = 0; i < fresh.size(); ++i)
    ASSERT_NEAR(cached[i], fresh[i], 1e-6) << i;
  auto a = eval::Score(*model, ex.train, 2, cached),
       b = eval::Score(*model, ex.train, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NEAR(eval::Find(*a, "auc"), eval::Find(*b, "auc"), 1e-9);
}

TEST(ModelTest, EarlyStoppingKeepsTheBestRound) {
  Example ex = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  FitOptions o;
  o.eval = &ex.eval;
  int reported = 0;
  o.on_progress = [&](const FitProgress& p) {
    reported = p.iteration;
    return absl::OkStatus();
  };
  auto model = MustFit("gbdt",
                       ParamsOf({{"rounds", Num(2000)},
                                 {"eta", Num(0.3)},
                                 {"early_stopping_rounds", Num(10)},
                                 {"eval_metric", Str("auc")}}),
                       ex.train, v1::BINARY, o);
  ASSERT_NE(model, nullptr);
  auto trees = model->Parameters().trees();
  EXPECT_LT(trees.rounds(), 2000);
  EXPECT_EQ(trees.rounds(), trees.best_iteration() + 1);
  EXPECT_GE(reported, trees.rounds());
}

TEST(ModelTest, CancelledThroughProgress) {
  Example ex = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  FitOptions o;
  o.task = v1::BINARY;
  o.on_progress = [](const FitProgress& p) {
    return p.iteration >= 20 ? absl::CancelledError("stop") : absl::OkStatus();
  };
  auto m = Fit("gbdt", GbdtParams(), "params", ex.train, o);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kCancelled);
}

TEST(ModelTest, BadInputNamesTheField) {
  Example ex = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  FitOptions o;
  o.task = v1::BINARY;
  auto unknown = Fit("logistic_regression", ParamsOf({{"lamda", Num(1)}}),
                     "candidates[0].params", ex.train, o);
  EXPECT_THAT(unknown.status().ToString(),
              HasSubstr("candidates[0].params.lamda: unknown parameter"));
  auto range = Fit("gbdt", ParamsOf({{"eta", Num(3)}}), "p", ex.train, o);
  EXPECT_THAT(range.status().ToString(), HasSubstr("p.eta: must be in [0, 1]"));
  auto algo = Fit("svm", ParamsOf({}), "p", ex.train, o);
  EXPECT_THAT(algo.status().ToString(),
              HasSubstr("algorithm: unknown \"svm\""));
  auto task = Fit("kmeans", ParamsOf({}), "p", ex.train, o);
  EXPECT_THAT(task.status().ToString(), HasSubstr("cannot do the task BINARY"));

  TrainingData nan = ex.train;
  nan.x.MutableRow(7)[2] = NAN;
  auto missing = Fit("logistic_regression", ParamsOf({}), "p", nan, o);
  EXPECT_THAT(missing.status().ToString(),
              HasSubstr("feature " + ex.train.features[2] +
                        ": missing value in row 7"));
  // XGBoost takes missing values.
  EXPECT_TRUE(Fit("gbdt", ParamsOf({{"rounds", Num(5)}}), "p", nan, o).ok());

  TrainingData one_class = ex.train;
  std::fill(one_class.y.begin(), one_class.y.end(), 1.0);
  auto single = Fit("logistic_regression", ParamsOf({}), "p", one_class, o);
  EXPECT_THAT(single.status().ToString(), HasSubstr("1 class(es)"));

  v1::LearnedParameters bad;
  bad.mutable_linear()->set_outputs(1);
  bad.mutable_linear()->add_weights(1.0);
  EXPECT_EQ(LoadModel(v1::BINARY, 3, 2, bad).status().code(),
            absl::StatusCode::kDataLoss);
  bad.mutable_trees()->set_xgboost_ubj("not a model");
  EXPECT_EQ(LoadModel(v1::BINARY, 3, 2, bad).status().code(),
            absl::StatusCode::kDataLoss);
}

// A 3-round GBDT on credit and its parameters as stored (empty when the
// fit failed), for tests that damage its bytes.
struct SmallTrees {
  SmallTrees() {
    auto fitted =
        MustFit("gbdt", ParamsOf({{"rounds", Num(3)}}), ex.train, v1::BINARY);
    if (fitted != nullptr) params = fitted->Parameters();
  }
  const std::string& ubj() const { return params.trees().xgboost_ubj(); }

  Example ex = Featurize("credit/credit.csv", "Status", v1::BINARY, "bad");
  v1::LearnedParameters params;
};

// XGBoost's UBJSON reader trusts the lengths it reads: model bytes that
// claim more than follows, or nest without end, are refused before it sees
// them (it read past the buffer and allocated what a stored length claimed:
// found by tests/reliability/fuzz/artifact_fuzz).
TEST(ModelTest, TreesWhoseBytesClaimMoreThanTheyHoldAreDataLoss) {
  const SmallTrees small;
  ASSERT_FALSE(small.ubj().empty());
  const v1::LearnedParameters& good = small.params;
  const Example& ex = small.ex;
  const std::string& ubj = small.ubj();
  EXPECT_TRUE(ParseUbjson(ubj).ok()) << ParseUbjson(ubj).status();
  const std::string huge_key("{L\x40\0\0\0\0\0\0\0", 10);
  for (const std::string& bytes :
       {ubj.substr(0, ubj.size() / 2), huge_key, std::string(100000, '[')}) {
    v1::LearnedParameters bad = good;
    bad.mutable_trees()->set_xgboost_ubj(bytes);
    auto model = LoadModel(v1::BINARY, ex.train.x.cols, 2, bad);
    EXPECT_EQ(model.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(model.status().message(), HasSubstr("xgboost_ubj: UBJSON: "));
  }
}

// Well-formed UBJSON whose trees XGBoost 1.7's loader misreads: a parent
// index out of the tree, more trees claimed than given (each crashed it:
// a read out of bounds). Same-length edits of a trained model's bytes.
TEST(ModelTest, TreesXGBoostWouldMisreadAreDataLoss) {
  const SmallTrees small;
  ASSERT_FALSE(small.ubj().empty());
  const v1::LearnedParameters& good = small.params;
  const Example& ex = small.ex;
  const std::string& ubj = small.ubj();
  auto load = [&](const std::string& bytes) {
    v1::LearnedParameters bad = good;
    bad.mutable_trees()->set_xgboost_ubj(bytes);
    return LoadModel(v1::BINARY, ex.train.x.cols, 2, bad).status();
  };
  ASSERT_TRUE(load(ubj).ok()) << load(ubj);

  // "parents" [$l#<count> then int32s: node 1's parent made 1000000.
  std::string parent = ubj;
  size_t at = parent.find("parents");
  ASSERT_NE(at, std::string::npos);
  at += 7;
  ASSERT_EQ(parent.substr(at, 4), "[$l#");
  at += 4;
  const std::map<char, size_t> length_bytes = {
      {'i', 1}, {'U', 1}, {'I', 2}, {'l', 4}, {'L', 8}};
  ASSERT_TRUE(length_bytes.contains(parent[at]));
  at += 1 + length_bytes.at(parent[at]) + 4;
  parent.replace(at, 4, std::string("\x00\x0f\x42\x40", 4));
  EXPECT_THAT(load(parent).ToString(),
              HasSubstr("tree 0: node 1: parent out of range"));

  // "num_trees" S<length>"3" made "9".
  std::string trees = ubj;
  at = trees.find("num_trees");
  ASSERT_NE(at, std::string::npos);
  at = trees.find('3', at + 9);
  trees[at] = '9';
  EXPECT_THAT(load(trees).ToString(),
              HasSubstr("trees, tree_info and num_trees do not match"));
}

TEST(ModelTest, BalancedClassWeightsRaiseMinorityRecall) {
  Example ex = Featurize("churn/churn.csv", "churn", v1::BINARY, "yes");
  auto plain =
      MustFit("logistic_regression", ParamsOf({}), ex.train, v1::BINARY);
  auto balanced = MustFit("logistic_regression",
                          ParamsOf({{"class_weight", Str("balanced")}}),
                          ex.train, v1::BINARY);
  auto recall = [&](const Model& m) {
    std::vector<double> p;
    EXPECT_TRUE(m.Predict(ex.eval.x, &p).ok());
    double tp = 0, pos = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      pos += ex.eval.y[i] == 1;
      tp += ex.eval.y[i] == 1 && p[i] >= 0.5;
    }
    return tp / pos;
  };
  EXPECT_GT(recall(*balanced), recall(*plain) + 0.2);
}

TEST(TableDataTest, FramesAndTablesBuildTheSameData) {
  table::Table t;
  t.num_rows = 4;
  table::Column x{.name = "x", .type = table::ColumnType::kNumeric};
  for (double v : {1.0, 2.0, 3.0, 4.0}) {
    x.numbers.push_back(v);
    x.valid.PushBack(true);
  }
  x.valid.Set(1, false);  // Missing: NaN.
  table::Column y{.name = "y", .type = table::ColumnType::kCategorical};
  for (const char* v : {"no", "yes", "", "yes"}) {
    y.strings.push_back(v);
    y.valid.PushBack(*v != 0);  // Row 2 has no label: left out.
  }
  t.columns = {x, y};
  v1::Frame frame;
  table::TableToFrame(t, &frame);
  LabelEncoder enc(v1::BINARY, {"no", "yes"});
  TrainingDataBuilder a({"x"}, "y", enc), b({"x"}, "y", enc);
  ASSERT_TRUE(a.Append(t).ok());
  ASSERT_TRUE(b.AppendFrame(std::move(frame)).ok());
  EXPECT_EQ(a.skipped_rows(), 1);
  EXPECT_EQ(b.skipped_rows(), 1);
  TrainingData da = a.Finish(), db = b.Finish();
  EXPECT_EQ(da.y, (std::vector<double>{0, 1, 1}));
  EXPECT_EQ(db.y, da.y);
  ASSERT_EQ(db.x.rows, 3u);
  EXPECT_EQ(db.x.values[0], 1.0);
  EXPECT_TRUE(std::isnan(db.x.values[1]));
  EXPECT_EQ(db.x.values[2], 4.0);
  v1::Frame bad;
  bad.set_num_rows(1);
  auto* c = bad.add_columns();
  c->set_name("y");
  c->set_type(v1::CATEGORICAL);
  c->add_strings("maybe");
  TrainingDataBuilder e({}, "y", enc);
  EXPECT_THAT(e.AppendFrame(std::move(bad)).ToString(),
              HasSubstr("class \"maybe\" is not one of the split's classes"));
}

TEST(TableDataTest, LabelLayoutsAndRowSubsets) {
  // Dictionary layout: an unused entry that is no class is no error; only
  // the rows asked for are taken, in order.
  v1::Frame f;
  f.set_num_rows(4);
  auto* x = f.add_columns();
  x->set_name("x");
  x->set_type(v1::NUMERIC);
  for (double v : {10.0, 11.0, 12.0, 13.0}) x->add_numbers(v);
  auto* y = f.add_columns();
  y->set_name("y");
  y->set_type(v1::CATEGORICAL);
  for (const char* v : {"yes", "unused", "no"}) y->add_dictionary(v);
  for (uint32_t code : {0, 2, 2, 0}) y->add_codes(code);
  LabelEncoder enc(v1::BINARY, {"no", "yes"});
  TrainingDataBuilder b({"x"}, "y", enc);
  std::vector<uint32_t> rows = {1, 3};
  ASSERT_TRUE(b.AppendFrame(f, &rows).ok());
  ASSERT_TRUE(b.AppendFrame(f).ok());
  TrainingData d = b.Finish();
  EXPECT_EQ(d.y, (std::vector<double>{0, 1, 1, 0, 0, 1}));
  EXPECT_EQ(d.x.values, (std::vector<double>{11, 13, 10, 11, 12, 13}));
  // Numeric class labels; a value that is no class is named.
  v1::Frame g;
  g.set_num_rows(3);
  auto* z = g.add_columns();
  z->set_name("z");
  z->set_type(v1::NUMERIC);
  for (double v : {1.0, 0.0, 1.0}) z->add_numbers(v);
  TrainingDataBuilder n({}, "z", LabelEncoder(v1::BINARY, {"0", "1"}));
  ASSERT_TRUE(n.AppendFrame(g).ok());
  EXPECT_EQ(n.Finish().y, (std::vector<double>{1, 0, 1}));
  TrainingDataBuilder bad({}, "z", LabelEncoder(v1::BINARY, {"0", "2"}));
  EXPECT_THAT(bad.AppendFrame(g).ToString(),
              HasSubstr("label z: class \"1\" is not one of"));
  // Regression needs numbers.
  TrainingDataBuilder r({"x"}, "y", LabelEncoder(v1::REGRESSION, {}));
  EXPECT_THAT(r.AppendFrame(f).ToString(),
              HasSubstr("label y: regression needs a numeric label"));
}

// Serves fixed frames.
class Frames final : public table::FrameReader {
 public:
  explicit Frames(std::vector<v1::Frame> frames) : frames_(std::move(frames)) {}
  absl::StatusOr<bool> Next(v1::Frame* frame) override {
    if (next_ >= frames_.size()) return false;
    *frame = frames_[next_++];
    return true;
  }

 private:
  std::vector<v1::Frame> frames_;
  size_t next_ = 0;
};

TEST(TableDataTest, ReadPartsRoutesRowsWithFoldsAndText) {
  // Rows 0..9 in two frames; parts alternate 0, 1, 2 (2: not wanted); row 4
  // has no label; "home" is kept as text for slicing.
  std::vector<v1::Frame> frames;
  for (int f = 0; f < 2; ++f) {
    table::Table t;
    t.num_rows = 5;
    table::Column x{.name = "x", .type = table::ColumnType::kNumeric};
    table::Column y{.name = "y", .type = table::ColumnType::kCategorical};
    table::Column home{.name = "home", .type = table::ColumnType::kCategorical};
    for (int i = 0; i < 5; ++i) {
      const int row = f * 5 + i;
      x.numbers.push_back(row);
      x.valid.PushBack(true);
      y.strings.push_back(row % 2 ? "yes" : "no");
      y.valid.PushBack(row != 4);
      home.strings.push_back(row % 3 ? "own" : "");
      home.valid.PushBack(row % 3 != 0);
    }
    t.columns = {x, y, home};
    v1::Frame frame;
    table::TableToFrame(t, &frame);
    frame.set_row_offset(f * 5);
    frames.push_back(frame);
  }
  std::vector<uint8_t> assignment = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0};
  std::vector<uint8_t> folds = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3};
  PartRowsSpec spec;
  spec.assignment = &assignment;
  spec.folds = &folds;
  spec.parts = {1, 0};
  spec.features = {"x"};
  spec.label = "y";
  spec.text_columns = {"home"};
  Frames reader(frames);
  auto parts = ReadParts(reader, spec, LabelEncoder(v1::BINARY, {"no", "yes"}));
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  // Part 1: rows 1, 4 (no label: left out), 7.
  EXPECT_EQ((*parts)[0].data.x.values, (std::vector<double>{1, 7}));
  EXPECT_EQ((*parts)[0].data.y, (std::vector<double>{1, 1}));
  EXPECT_EQ((*parts)[0].folds, (std::vector<uint8_t>{0, 2}));
  // Part 0: rows 0, 3, 6, 9.
  EXPECT_EQ((*parts)[1].data.x.values, (std::vector<double>{0, 3, 6, 9}));
  EXPECT_EQ((*parts)[1].folds, (std::vector<uint8_t>{0, 1, 2, 3}));
  EXPECT_EQ((*parts)[1].text.at("home"),
            (std::vector<std::string>{"(missing)", "(missing)", "(missing)",
                                      "(missing)"}));
  EXPECT_EQ((*parts)[0].text.at("home"),
            (std::vector<std::string>{"own", "own"}));
  // A feature set longer than the split's assignments is data loss.
  assignment.pop_back();
  Frames again(frames);
  EXPECT_EQ(ReadParts(again, spec, LabelEncoder(v1::BINARY, {"no", "yes"}))
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST(LbfgsTest, MinimizesAQuadraticAndHonoursL1) {
  // f(w) = sum (w_j - j)^2 ; with l1 = 3 the minimizer is soft-thresholded.
  auto f = [](const std::vector<double>& w, std::vector<double>* g) {
    double v = 0;
    g->resize(w.size());
    for (size_t j = 0; j < w.size(); ++j) {
      v += (w[j] - j) * (w[j] - j);
      (*g)[j] = 2 * (w[j] - j);
    }
    return v;
  };
  std::vector<double> w(4, 0.0);
  LbfgsResult r;
  ASSERT_TRUE(Minimize(f, {}, 0, nullptr, &w, &r).ok());
  for (size_t j = 0; j < 4; ++j) EXPECT_NEAR(w[j], j, 1e-6);
  LbfgsOptions l1;
  l1.l1 = 3;
  std::fill(w.begin(), w.end(), 0.0);
  ASSERT_TRUE(Minimize(f, l1, 0, nullptr, &w, &r).ok());
  EXPECT_EQ(w[0], 0.0);
  EXPECT_EQ(w[1], 0.0);  // |1| < 1.5: thresholded to zero.
  EXPECT_NEAR(w[2], 0.5, 1e-6);
  EXPECT_NEAR(w[3], 1.5, 1e-6);
}

}  // namespace
}  // namespace mlpipe::ml
