// Boosted trees and random forests through XGBoost's C API. The model is
// kept in XGBoost's own UBJSON form; checkpoints are that form too, so a
// resumed fit continues with the trees already built.
#include <xgboost/c_api.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <type_traits>

#include "common/ml/algorithms.h"
#include "common/ml/ubjson.h"
#include "common/util/strings.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace mlpipe::ml::internal {
namespace {

absl::Status XgbError(const std::string& what) {
  return absl::InternalError(StrCat("xgboost ", what, ": ", XGBGetLastError()));
}

#define XGB_RETURN_IF_ERROR(call, what) \
  if ((call) != 0) return XgbError(what)

// A rows x cols row-major array of doubles or floats in XGBoost's (numpy's)
// array interface.
template <typename T>
std::string ArrayInterface(const T* data, size_t rows, size_t cols) {
  static_assert(std::is_same_v<T, double> || std::is_same_v<T, float>);
  return StrCat("{\"data\": [", reinterpret_cast<uintptr_t>(data),
                ", true], \"shape\": [", rows, ", ", cols,
                "], \"typestr\": \"<f", sizeof(T), "\", \"version\": 3}");
}

// The labels XGBoost fits: `data.y` as it is, or with `one_hot` > 0 classes
// one column per class (1 for the row's class, 0 otherwise), row-major.
// REQUIRES: class labels in [0, one_hot) (Fit checks them, model.cc).
std::vector<float> LabelsOf(const TrainingData& data, int one_hot) {
  if (one_hot <= 0) return {data.y.begin(), data.y.end()};
  std::vector<float> label(data.y.size() * one_hot, 0.0f);
  for (size_t i = 0; i < data.y.size(); ++i) {
    const auto c = static_cast<size_t>(data.y[i]);
    if (c < static_cast<size_t>(one_hot)) label[i * one_hot + c] = 1.0f;
  }
  return label;
}

// Sets `label` (`width` values per row) on `handle`: 0 on success.
int SetLabels(DMatrixHandle handle, const std::vector<float>& label,
              int width) {
  if (width <= 1) {
    return XGDMatrixSetFloatInfo(handle, "label", label.data(), label.size());
  }
  const std::string array =
      ArrayInterface(label.data(), label.size() / width, width);
  return XGDMatrixSetInfoFromInterface(handle, "label", array.c_str());
}

class DMatrix {
 public:
  ~DMatrix() {
    if (handle_ != nullptr) XGDMatrixFree(handle_);
  }
  static absl::StatusOr<std::unique_ptr<DMatrix>> Make(
      const TrainingData& data, const std::vector<double>* weights, int threads,
      int one_hot) {
    auto m = std::make_unique<DMatrix>();
    std::string config =
        StrCat("{\"missing\": NaN, \"nthread\": ", threads, "}");
    XGB_RETURN_IF_ERROR(
        XGDMatrixCreateFromDense(
            ArrayInterface(data.x.values.data(), data.x.rows, data.x.cols)
                .c_str(),
            config.c_str(), &m->handle_),
        "DMatrix");
    if (!data.y.empty()) {
      XGB_RETURN_IF_ERROR(
          SetLabels(m->handle_, LabelsOf(data, one_hot), one_hot), "labels");
    }
    if (weights != nullptr) {
      std::vector<float> w(weights->begin(), weights->end());
      XGB_RETURN_IF_ERROR(
          XGDMatrixSetFloatInfo(m->handle_, "weight", w.data(), w.size()),
          "weights");
    }
    return m;
  }
  // For the hist method: the quantized form only (XGBoost's
  // QuantileDMatrix), built from the rows in one batch without the sparse
  // copy a DMatrix makes (on 2.4M x 44 rows: ~3 s and 845 MB less). Predicts
  // as the DMatrix does; `max_bin` must be the booster's.
  static absl::StatusOr<std::unique_ptr<DMatrix>> MakeQuantile(
      const TrainingData& data, const std::vector<double>* weights, int threads,
      int max_bin, int one_hot) {
    auto m = std::make_unique<DMatrix>();
    DMatrixHandle proxy = nullptr;
    XGB_RETURN_IF_ERROR(XGProxyDMatrixCreate(&proxy), "proxy");
    struct Batch {
      const TrainingData* data;
      std::vector<float> label, weight;
      int width;
      DMatrixHandle proxy;
      bool served = false;
      int error = 0;
    } batch{&data, LabelsOf(data, one_hot), {}, one_hot, proxy};
    if (weights != nullptr)
      batch.weight.assign(weights->begin(), weights->end());
    auto reset = [](DataIterHandle it) {
      static_cast<Batch*>(it)->served = false;
    };
    auto next = [](DataIterHandle it) -> int {
      auto* b = static_cast<Batch*>(it);
      if (b->served) return 0;
      b->served = true;
      const Matrix& x = b->data->x;
      std::string array = ArrayInterface(x.values.data(), x.rows, x.cols);
      if (XGProxyDMatrixSetDataDense(b->proxy, array.c_str()) != 0 ||
          (!b->label.empty() && SetLabels(b->proxy, b->label, b->width) != 0) ||
          (!b->weight.empty() &&
           XGDMatrixSetFloatInfo(b->proxy, "weight", b->weight.data(),
                                 b->weight.size()) != 0)) {
        b->error = -1;
        return 0;
      }
      return 1;
    };
    std::string config = StrCat("{\"missing\": NaN, \"nthread\": ", threads,
                                ", \"max_bin\": ", max_bin, "}");
    int rc = XGQuantileDMatrixCreateFromCallback(
        &batch, proxy, nullptr, reset, next, config.c_str(), &m->handle_);
    XGDMatrixFree(proxy);
    if (rc != 0 || batch.error != 0) return XgbError("QuantileDMatrix");
    return m;
  }
  DMatrixHandle handle() const { return handle_; }

 private:
  DMatrixHandle handle_ = nullptr;
};

class Booster {
 public:
  explicit Booster(BoosterHandle handle = nullptr) : handle_(handle) {}
  ~Booster() {
    if (handle_ != nullptr) XGBoosterFree(handle_);
  }
  static absl::StatusOr<std::unique_ptr<Booster>> Make(
      std::vector<DMatrixHandle> cache) {
    auto b = std::make_unique<Booster>();
    XGB_RETURN_IF_ERROR(
        XGBoosterCreate(cache.data(), cache.size(), &b->handle_), "booster");
    return b;
  }
  BoosterHandle handle() const { return handle_; }
  absl::Status Set(const std::string& name, const std::string& value) {
    XGB_RETURN_IF_ERROR(XGBoosterSetParam(handle_, name.c_str(), value.c_str()),
                        StrCat("parameter ", name));
    return absl::OkStatus();
  }
  absl::StatusOr<std::string> Save(const std::string& format = "ubj") const {
    bst_ulong len = 0;
    const char* bytes = nullptr;
    XGB_RETURN_IF_ERROR(
        XGBoosterSaveModelToBuffer(
            handle_, StrCat("{\"format\": \"", format, "\"}").c_str(), &len,
            &bytes),
        "save");
    return std::string(bytes, len);
  }
  absl::Status Load(const std::string& ubj) {
    XGB_RETURN_IF_ERROR(
        XGBoosterLoadModelFromBuffer(handle_, ubj.data(), ubj.size()), "load");
    return absl::OkStatus();
  }
  absl::StatusOr<int> Rounds() const {
    int rounds = 0;
    XGB_RETURN_IF_ERROR(XGBoosterBoostedRounds(handle_, &rounds), "rounds");
    return rounds;
  }

 private:
  BoosterHandle handle_ = nullptr;
};

std::string Version() {
  int major = 0, minor = 0, patch = 0;
  XGBoostVersion(&major, &minor, &patch);
  return StrCat(major, ".", minor, ".", patch);
}

// The proxy DMatrix that in-place prediction wraps its input in, one per
// thread. Without one XGBoost makes a new proxy per call, and making one
// reads the cgroup CPU quota files: four file opens per prediction, half the
// time of a 1-row prediction (33 us -> 16 us with 200 trees).
DMatrixHandle ThreadProxy() {
  struct Proxy {
    DMatrixHandle handle = nullptr;
    ~Proxy() {
      if (handle != nullptr) XGDMatrixFree(handle);
    }
  };
  thread_local Proxy proxy;
  if (proxy.handle == nullptr && XGProxyDMatrixCreate(&proxy.handle) != 0)
    proxy.handle = nullptr;  // XGBoost makes its own, as before.
  return proxy.handle;
}

// The trees as plain arrays, evaluated in C++ for a few rows at a time.
// XGBoost's in-place prediction has ~15 us of fixed cost per call (JSON
// configuration, array interface, output transform through its thread
// pool), as much as walking 200 trees for one row; the scoring service
// predicts one row per request. Built from the booster's JSON model for the
// objectives mlpipe trains with a scalar output (binary:logistic,
// reg:squarederror; gbtree, numerical splits) and used only if it
// reproduces XGBoost's predictions bit for bit on probe rows made from the
// split thresholds (both sides of every threshold, and missing values).
class FlatForest {
 public:
  static constexpr size_t kMaxRows = 16;  // More go to XGBoost.
  // REQUIRES: CheckTrees(model, num_features).ok().
  static std::unique_ptr<FlatForest> From(const google::protobuf::Struct& model,
                                          size_t num_features);
  void Predict(MatrixView x, std::vector<double>* out) const {
    out->resize(x.rows);
    std::vector<float> f(std::max<size_t>(x.cols, 1), 0.0f);
    const size_t trees = roots_.size();
    for (size_t r = 0; r < x.rows; ++r) {
      const double* row = x.values + r * x.cols;
      for (size_t c = 0; c < x.cols; ++c) f[c] = static_cast<float>(row[c]);
      float sum = base_margin_;
      // kLanes trees walked side by side, without a branch: their node
      // loads overlap. A leaf is its own child, so each walk takes depth_
      // steps; lanes past the last tree walk the spare leaf. The leaves are
      // summed in tree order, as XGBoost sums them.
      for (size_t t = 0; t < trees; t += kLanes) {
        int32_t n[kLanes];
        for (size_t j = 0; j < kLanes; ++j)
          n[j] = t + j < trees ? roots_[t + j] : spare_leaf_;
        for (int d = 0; d < depth_; ++d) {
#pragma GCC unroll 8
          for (size_t j = 0; j < kLanes; ++j) {
            const Node& node = nodes_[n[j]];
            const float v = f[node.feature];
            // An index, not a branch: the side taken is data.
            const unsigned right =
                !((v < node.value) | (std::isnan(v) & node.default_left));
            n[j] = node.child[right];
          }
        }
        const size_t k = std::min(kLanes, trees - t);
        for (size_t j = 0; j < k; ++j) sum += nodes_[n[j]].value;
      }
      (*out)[r] = logistic_ ? 1.0f / (1.0f + std::exp(-sum)) : sum;
    }
  }
  // Rows that take both sides of every split and the missing-value branch.
  std::vector<double> ProbeRows(size_t d, size_t* rows) const {
    std::vector<std::vector<float>> thresholds(d);
    for (const Node& n : nodes_)
      if (n.child[0] != n.child[1]) thresholds[n.feature].push_back(n.value);
    size_t most = 0;
    for (auto& t : thresholds) {
      std::sort(t.begin(), t.end());
      t.erase(std::unique(t.begin(), t.end()), t.end());
      most = std::max(most, t.size());
    }
    *rows = 2 * most + 2;
    std::vector<double> x(*rows * d);
    for (size_t r = 0; r < *rows; ++r) {
      for (size_t c = 0; c < d; ++c) {
        const auto& t = thresholds[c];
        double& v = x[r * d + c];
        if (r + 1 == *rows || t.empty()) {
          v = (r + 1 == *rows) ? NAN : 0.0;
          continue;
        }
        // Row r: the threshold (r / 2 + c) % size, exactly on it or one
        // float below it; the last but one row is above every threshold.
        if (r + 2 == *rows) {
          v = std::nextafter(t.back(), INFINITY);
          continue;
        }
        float at = t[(r / 2 + c) % t.size()];
        v = r % 2 == 0 ? at : std::nextafter(at, -INFINITY);
        if ((r + c) % 5 == 0) v = NAN;  // Default directions.
      }
    }
    return x;
  }

 private:
  static constexpr size_t kLanes = 8;
  // 16 bytes. A leaf is its own left and right child (and splits on
  // feature 0): `value` is its weight.
  struct Node {
    float value = 0;  // The split threshold, or the leaf weight.
    uint32_t feature : 31 = 0;
    uint32_t default_left : 1 = 0;
    int32_t child[2] = {0, 0};  // Left, right.
  };
  // The depth of the deepest leaf under `root`; -1 when the walk meets a
  // child outside the tree or more nodes than it has.
  int Depth(int32_t root, int32_t end) const;
  std::vector<Node> nodes_;
  std::vector<int32_t> roots_;
  int32_t spare_leaf_ = 0;  // A leaf of weight 0 in no tree.
  int depth_ = 0;           // The deepest tree's depth.
  float base_margin_ = 0;
  bool logistic_ = false;
};

int FlatForest::Depth(int32_t root, int32_t end) const {
  int deepest = 0;
  std::vector<std::pair<int32_t, int>> stack = {{root, 0}};
  for (int32_t visited = 0; !stack.empty(); ++visited) {
    const auto [n, d] = stack.back();
    stack.pop_back();
    if (n < root || n >= end || visited >= end - root) return -1;
    const Node& node = nodes_[n];
    if (node.child[0] == node.child[1]) {
      deepest = std::max(deepest, d);
      continue;
    }
    stack.push_back({node.child[0], d + 1});
    stack.push_back({node.child[1], d + 1});
  }
  return deepest;
}

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// Navigating the model as XGBoost writes it in JSON (parsed as a Struct):
// null when absent or of another kind.
const Value* Field(const Struct& s, const char* key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? nullptr : &it->second;
}
const Struct* Object(const Struct* s, const char* key) {
  const Value* v = s ? Field(*s, key) : nullptr;
  return v && v->has_struct_value() ? &v->struct_value() : nullptr;
}
std::string Text(const Struct* s, const char* key) {
  const Value* v = s ? Field(*s, key) : nullptr;
  return v && v->kind_case() == Value::kStringValue ? v->string_value() : "";
}
const ListValue* List(const Struct& s, const char* key) {
  const Value* v = Field(s, key);
  return v && v->has_list_value() ? &v->list_value() : nullptr;
}
// Whether value i of `list` is a whole number in [lo, hi).
bool IndexIn(const ListValue& list, int i, double lo, double hi) {
  const double v = list.values(i).number_value();
  return v == std::floor(v) && v >= lo && v < hi;
}

// One tree of the model, as XGBoost's loader reads it and its predictor
// walks it: every array as long as the tree's node count (its loader
// reads them to that count), each node's parent inside the tree (it looks
// the parent up), children inside the tree and reached once from the root
// (so a walk ends), split features among the model's, numerical splits
// only (mlpipe trains no categorical ones).
absl::Status CheckTree(const Struct& tree, size_t num_features) {
  const double n = std::strtod(
      Text(Object(&tree, "tree_param"), "num_nodes").c_str(), nullptr);
  if (!(n >= 1 && n <= INT32_MAX)) return absl::DataLossError("num_nodes");
  constexpr int kArrays = 9;
  const ListValue* arrays[kArrays];
  const char* names[kArrays] = {
      "left_children", "right_children",   "split_indices",
      "parents",       "split_conditions", "default_left",
      "loss_changes",  "sum_hessian",      "base_weights"};
  for (int a = 0; a < kArrays; ++a) {
    arrays[a] = List(tree, names[a]);
    if (arrays[a] == nullptr || arrays[a]->values_size() != n) {
      return absl::DataLossError(
          StrCat(names[a], ": not ", static_cast<int64_t>(n), " entries"));
    }
  }
  if (const Value* type = Field(tree, "split_type"); type != nullptr) {
    if (!type->has_list_value() || type->list_value().values_size() != n)
      return absl::DataLossError("split_type: not one entry per node");
    for (const Value& v : type->list_value().values()) {
      if (v.number_value() != 0)
        return absl::DataLossError("split_type: a categorical split");
    }
  }
  for (const char* name : {"categories", "categories_nodes",
                           "categories_segments", "categories_sizes"}) {
    const Value* v = Field(tree, name);
    if (v != nullptr &&
        (!v->has_list_value() || v->list_value().values_size() > 0))
      return absl::DataLossError(StrCat(name, ": categorical splits"));
  }
  for (int i = 1; i < n; ++i) {
    if (!IndexIn(*arrays[3], i, 0, n))
      return absl::DataLossError(StrCat("node ", i, ": parent out of range"));
  }
  const ListValue &left = *arrays[0], &right = *arrays[1], &index = *arrays[2];
  for (int i = 0; i < n; ++i) {
    if (left.values(i).number_value() == -1) continue;  // A leaf.
    if (!IndexIn(left, i, 0, n) || !IndexIn(right, i, 0, n) ||
        !IndexIn(index, i, 0, static_cast<double>(num_features))) {
      return absl::DataLossError(
          StrCat("node ", i, ": a child or split feature out of range"));
    }
  }
  std::vector<bool> reached(static_cast<size_t>(n), false);
  std::vector<int> todo = {0};
  while (!todo.empty()) {
    const int i = todo.back();
    todo.pop_back();
    if (reached[i])
      return absl::DataLossError(StrCat("node ", i, " is reached twice"));
    reached[i] = true;
    if (left.values(i).number_value() == -1) continue;
    todo.push_back(static_cast<int>(left.values(i).number_value()));
    todo.push_back(static_cast<int>(right.values(i).number_value()));
  }
  return absl::OkStatus();
}

// Outputs per row of a model's learner: its classes (softprob) or targets
// (a forest's one-hot classes), else 1.
int64_t OutputsPerRow(const Struct* learner) {
  const Struct* params = Object(learner, "learner_model_param");
  return std::max<int64_t>(
      {int64_t{1}, std::strtoll(Text(params, "num_class").c_str(), nullptr, 10),
       std::strtoll(Text(params, "num_target").c_str(), nullptr, 10)});
}

// The model XGBoost loaded, checked before anything predicts with it:
// its trees (CheckTree) and the output group of each.
absl::Status CheckTrees(const Struct& model, size_t num_features) {
  const Struct* learner = Object(&model, "learner");
  const Struct* booster = Object(learner, "gradient_booster");
  const Struct* trees_model = Object(booster, "model");
  if (Text(booster, "name") != "gbtree" || trees_model == nullptr)
    return absl::DataLossError("not a gbtree model");
  const double groups = static_cast<double>(OutputsPerRow(learner));
  const ListValue* trees = List(*trees_model, "trees");
  const ListValue* info = List(*trees_model, "tree_info");
  const std::string num_trees =
      Text(Object(trees_model, "gbtree_model_param"), "num_trees");
  if (trees == nullptr || info == nullptr ||
      info->values_size() != trees->values_size() ||
      num_trees != std::to_string(trees->values_size()))
    return absl::DataLossError("trees, tree_info and num_trees do not match");
  for (int t = 0; t < trees->values_size(); ++t) {
    const Value& tree = trees->values(t);
    if (!IndexIn(*info, t, 0, groups) || !tree.has_struct_value())
      return absl::DataLossError(StrCat("tree ", t, ": not a tree of a group"));
    // XGBoost places each tree by its id.
    const Value* id = Field(tree.struct_value(), "id");
    if (id == nullptr || id->kind_case() != Value::kNumberValue ||
        id->number_value() != t)
      return absl::DataLossError(StrCat("tree ", t, ": id is not ", t));
    if (auto s = CheckTree(tree.struct_value(), num_features); !s.ok())
      return absl::DataLossError(StrCat("tree ", t, ": ", s.message()));
  }
  return absl::OkStatus();
}

std::unique_ptr<FlatForest> FlatForest::From(const Struct& model,
                                             size_t num_features) {
  const Struct* learner = Object(&model, "learner");
  const Struct* params = Object(learner, "learner_model_param");
  const Struct* booster = Object(learner, "gradient_booster");
  const Struct* trees_model = Object(booster, "model");
  const std::string objective = Text(Object(learner, "objective"), "name");
  auto forest = std::make_unique<FlatForest>();
  if (Text(booster, "name") != "gbtree" || trees_model == nullptr ||
      Text(params, "num_class") != "0" || OutputsPerRow(learner) != 1 ||
      (objective != "binary:logistic" && objective != "reg:squarederror"))
    return nullptr;
  forest->logistic_ = objective == "binary:logistic";
  const float base = std::strtof(Text(params, "base_score").c_str(), nullptr);
  forest->base_margin_ =
      forest->logistic_ ? -std::log(1.0f / base - 1.0f) : base;
  const Value* trees = Field(*trees_model, "trees");
  if (trees == nullptr || !trees->has_list_value()) return nullptr;
  for (const Value& t : trees->list_value().values()) {
    if (!t.has_struct_value()) return nullptr;
    const Struct& tree = t.struct_value();
    const auto *left = List(tree, "left_children"),
               *right = List(tree, "right_children"),
               *index = List(tree, "split_indices"),
               *cond = List(tree, "split_conditions"),
               *dleft = List(tree, "default_left"),
               *type = List(tree, "split_type");
    if (!left || !right || !index || !cond || !dleft) return nullptr;
    const int n = left->values_size();
    if (n == 0 || right->values_size() != n || index->values_size() != n ||
        cond->values_size() != n || dleft->values_size() != n)
      return nullptr;
    const int32_t offset = static_cast<int32_t>(forest->nodes_.size());
    forest->roots_.push_back(offset);
    for (int i = 0; i < n; ++i) {
      if (type != nullptr && i < type->values_size() &&
          type->values(i).number_value() != 0)
        return nullptr;  // A categorical split.
      Node node;
      const int l = static_cast<int>(left->values(i).number_value());
      const int r = static_cast<int>(right->values(i).number_value());
      node.value = static_cast<float>(cond->values(i).number_value());
      node.child[0] = node.child[1] = offset + i;
      if (l >= 0) {
        const double feature = index->values(i).number_value();
        if (l >= n || r < 0 || r >= n || l == r || feature < 0 ||
            feature >= static_cast<double>(num_features))
          return nullptr;
        node.child[0] = offset + l;
        node.child[1] = offset + r;
        node.feature = static_cast<uint32_t>(feature);
        node.default_left = dleft->values(i).number_value() != 0;
      }
      forest->nodes_.push_back(node);
    }
    const int depth =
        forest->Depth(offset, static_cast<int32_t>(forest->nodes_.size()));
    if (depth < 0) return nullptr;
    forest->depth_ = std::max(forest->depth_, depth);
  }
  forest->spare_leaf_ = static_cast<int32_t>(forest->nodes_.size());
  Node spare;
  spare.child[0] = spare.child[1] = forest->spare_leaf_;
  forest->nodes_.push_back(spare);
  return forest;
}

// Class probabilities from a model's outputs. A forest of squared-error
// trees (FitRandomForest) gives per class the mean of its leaves' shares of
// the class: rounding may put it a hair outside [0, 1], and with one-hot
// targets a row's classes come from different trees, so their sum is near 1
// but not exactly 1. `shares`: outputs of such a forest (else multiclass
// outputs are softmax probabilities already).
void ToProbabilities(v1::Task task, int classes, bool shares,
                     std::vector<double>* p) {
  if (task == v1::BINARY || (task == v1::MULTICLASS && shares)) {
    for (double& v : *p) v = std::clamp(v, 0.0, 1.0);
  }
  if (task != v1::MULTICLASS || !shares || classes <= 0) return;
  for (size_t row = 0; row + classes <= p->size(); row += classes) {
    double sum = 0;
    for (int c = 0; c < classes; ++c) sum += (*p)[row + c];
    for (int c = 0; c < classes; ++c)
      (*p)[row + c] = sum > 0 ? (*p)[row + c] / sum : 1.0 / classes;
  }
}

class TreeModel final : public Model {
 public:
  TreeModel(v1::Task task, size_t d, int classes, bool shares,
            std::unique_ptr<Booster> b, std::string ubj, int rounds,
            int best_iteration)
      : task_(task),
        d_(d),
        classes_(classes),
        shares_(shares),
        booster_(std::move(b)),
        ubj_(std::move(ubj)),
        rounds_(rounds),
        best_iteration_(best_iteration) {}

  v1::Task task() const override { return task_; }
  size_t num_features() const override { return d_; }
  int OutputWidth() const override {
    return task_ == v1::MULTICLASS ? classes_ : 1;
  }
  absl::Status Predict(MatrixView x, std::vector<double>* out) const override {
    if (x.cols != d_) {
      return absl::InvalidArgumentError(
          StrCat("expected ", d_, " features, got ", x.cols));
    }
    if (fast_ != nullptr && x.rows <= FlatForest::kMaxRows) {
      fast_->Predict(x, out);
    } else if (absl::Status st = PredictWithXgboost(x, out); !st.ok()) {
      return st;
    }
    ToProbabilities(task_, classes_, shares_, out);
    return absl::OkStatus();
  }
  // Uses `forest` for small batches if it predicts what XGBoost does on
  // its probe rows, bit for bit; returns whether it does.
  bool UseFlatForest(std::unique_ptr<FlatForest> forest) {
    if (forest == nullptr) return false;
    size_t rows = 0;
    std::vector<double> probe = forest->ProbeRows(d_, &rows), a, b;
    if (!PredictWithXgboost(MatrixView(probe.data(), rows, d_), &a).ok())
      return false;
    forest->Predict(MatrixView(probe.data(), rows, d_), &b);
    if (a.size() != b.size() ||
        std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) != 0)
      return false;
    fast_ = std::move(forest);
    return true;
  }
  absl::Status PredictWithXgboost(MatrixView x,
                                  std::vector<double>* out) const {
    out->clear();
    if (x.rows == 0) return absl::OkStatus();
    const bst_ulong* shape = nullptr;
    bst_ulong dim = 0;
    const float* result = nullptr;
    // Inplace prediction is thread-safe (XGBoost keeps per-thread buffers).
    if (XGBoosterPredictFromDense(
            booster_->handle(),
            ArrayInterface(x.values, x.rows, x.cols).c_str(),
            "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
            "\"iteration_end\": 0, \"strict_shape\": false, \"missing\": NaN, "
            "\"cache_id\": 0}",
            ThreadProxy(), &shape, &dim, &result) != 0) {
      return XgbError("predict");
    }
    size_t total = 1;
    for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
    if (total != x.rows * OutputWidth()) {
      return absl::InternalError(
          StrCat("xgboost predicted ", total, " values for ", x.rows, " rows"));
    }
    out->assign(result, result + total);
    return absl::OkStatus();
  }
  bool flat() const { return fast_ != nullptr; }
  v1::LearnedParameters Parameters() const override {
    v1::LearnedParameters p;
    auto* t = p.mutable_trees();
    t->set_xgboost_ubj(ubj_);
    t->set_rounds(rounds_);
    t->set_best_iteration(best_iteration_);
    t->set_xgboost_version(Version());
    return p;
  }

 private:
  const v1::Task task_;
  const size_t d_;
  const int classes_;
  const bool shares_;  // A squared-error forest's class shares.
  const std::unique_ptr<Booster> booster_;
  const std::string ubj_;
  const int rounds_;
  const int best_iteration_;
  std::unique_ptr<FlatForest> fast_;
};

// What both tree algorithms share once their parameters are read.
struct TreeJob {
  std::vector<std::pair<std::string, std::string>> params;
  int rounds = 100;
  int early_stopping_rounds = 0;
  std::string eval_metric;
  // > 0: fit this many classes as one-hot targets (see FitRandomForest).
  int one_hot = 0;

  std::string Param(const std::string& name) const {
    for (const auto& [k, v] : params) {
      if (k == name) return v;
    }
    return "";
  }
};

double LastMetric(const char* eval) {
  // "[12]\teval-logloss:0.4123" -> 0.4123
  const char* colon = std::strrchr(eval, ':');
  return colon == nullptr ? NAN : std::strtod(colon + 1, nullptr);
}

bool HigherIsBetter(const std::string& metric) {
  return metric == "auc" || metric == "aucpr" || metric == "map" ||
         metric == "ndcg";
}

// The training rows as XGBoost reads them: quantized for the hist method.
absl::StatusOr<std::unique_ptr<DMatrix>> TrainingMatrix(
    const TreeJob& job, const TrainingData& train,
    const std::vector<double>& weights, int threads) {
  bool weighted = false;
  for (double w : weights) weighted |= w != 1.0;
  return job.Param("tree_method") == "hist"
             ? DMatrix::MakeQuantile(train, weighted ? &weights : nullptr,
                                     threads, std::stoi(job.Param("max_bin")),
                                     job.one_hot)
             : DMatrix::Make(train, weighted ? &weights : nullptr, threads,
                             job.one_hot);
}

// The eval rows for early stopping; null when the fit does not stop early.
absl::StatusOr<std::unique_ptr<DMatrix>> EarlyStoppingMatrix(
    const TreeJob& job, const FitOptions& options) {
  // The eval rows serve early stopping only (trials are scored after).
  if (job.early_stopping_rounds > 0 && options.eval != nullptr &&
      options.eval->rows() > 0) {
    return DMatrix::Make(*options.eval, nullptr, options.threads, job.one_hot);
  }
  return std::unique_ptr<DMatrix>();
}

// A booster caching predictions on `cache`, with the job's parameters set.
absl::StatusOr<std::unique_ptr<Booster>> ConfiguredBooster(
    const TreeJob& job, int threads, std::vector<DMatrixHandle> cache) {
  auto booster = Booster::Make(std::move(cache));
  if (!booster.ok()) return booster.status();
  Booster& b = **booster;
  for (const auto& [k, v] : job.params) {
    if (absl::Status st = b.Set(k, v); !st.ok()) return st;
  }
  if (absl::Status st = b.Set("nthread", std::to_string(threads)); !st.ok()) {
    return st;
  }
  if (absl::Status st = b.Set("eval_metric", job.eval_metric); !st.ok())
    return st;
  return booster;
}

// Where a fit stands between rounds: the next round and the best so far.
struct BoostState {
  int next_round = 0;
  double best_score = 0;
  int best_iteration = -1;
};

// Restores `state` and the trees from a checkpoint SaveCheckpoint made.
absl::Status Resume(const Checkpoint& checkpoint, Booster& b,
                    BoostState* state) {
  const std::string& s = checkpoint.state;
  if (s.size() < 16) return absl::DataLossError("tree checkpoint too short");
  int64_t it = 0;
  std::memcpy(&state->best_score, s.data(), 8);
  std::memcpy(&it, s.data() + 8, 8);
  state->best_iteration = static_cast<int>(it);
  if (absl::Status st = b.Load(s.substr(16)); !st.ok()) return st;
  auto rounds = b.Rounds();
  if (!rounds.ok()) return rounds.status();
  state->next_round = *rounds;
  return absl::OkStatus();
}

// Hands on_checkpoint the best score, best iteration and trees after `iter`.
absl::Status SaveCheckpoint(const Booster& b, const BoostState& state, int iter,
                            const FitOptions& options) {
  auto ubj = b.Save();
  if (!ubj.ok()) return ubj.status();
  std::string bytes(16, '\0');
  int64_t it = state.best_iteration;
  std::memcpy(bytes.data(), &state.best_score, 8);
  std::memcpy(bytes.data() + 8, &it, 8);
  bytes += *ubj;
  return options.on_checkpoint({iter + 1, std::move(bytes)});
}

// Boosts the remaining rounds; stops early on `deval` unless it is null.
absl::Status Boost(const TreeJob& job, const FitOptions& options, Booster& b,
                   const DMatrix& dtrain, const DMatrix* deval,
                   BoostState* state) {
  const bool early = deval != nullptr;
  const int loss_every = std::clamp((job.rounds / 4 + 9) / 10 * 10, 10, 100);
  for (int iter = state->next_round; iter < job.rounds; ++iter) {
    XGB_RETURN_IF_ERROR(
        XGBoosterUpdateOneIter(b.handle(), iter, dtrain.handle()), "boost");
    // Progress every 10 rounds; the training loss (an evaluation pass)
    // only about four times a fit, so watching costs little.
    bool report = (iter + 1) % 10 == 0 || iter == 0 || iter + 1 == job.rounds;
    bool measure =
        report && ((iter + 1) % loss_every == 0 || iter + 1 == job.rounds);
    if (report && !measure && !early && options.on_progress) {
      absl::Status st = options.on_progress({iter + 1, job.rounds, NAN});
      if (!st.ok()) return st;
    }
    if (early || (measure && options.on_progress)) {
      DMatrixHandle evals[] = {early ? deval->handle() : dtrain.handle()};
      const char* names[] = {early ? "eval" : "train"};
      const char* out = nullptr;
      XGB_RETURN_IF_ERROR(
          XGBoosterEvalOneIter(b.handle(), iter, evals, names, 1, &out),
          "eval");
      double score = LastMetric(out);
      bool better = HigherIsBetter(job.eval_metric) ? score > state->best_score
                                                    : score < state->best_score;
      if (early && better) {
        state->best_score = score;
        state->best_iteration = iter;
      }
      if (report && options.on_progress) {
        absl::Status st = options.on_progress({iter + 1, job.rounds, score});
        if (!st.ok()) return st;
      }
      if (early && iter - state->best_iteration >= job.early_stopping_rounds)
        break;
    }
    if (options.on_checkpoint && options.checkpoint_every > 0 &&
        (iter + 1) % options.checkpoint_every == 0 && iter + 1 < job.rounds) {
      if (absl::Status st = SaveCheckpoint(b, *state, iter, options); !st.ok())
        return st;
    }
  }
  return absl::OkStatus();
}

// Writes the booster's predictions on the training rows, which it has cached.
absl::Status PredictTrainingRows(const Booster& b, const DMatrix& dtrain,
                                 std::vector<double>* out) {
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  XGB_RETURN_IF_ERROR(
      XGBoosterPredictFromDMatrix(
          b.handle(), dtrain.handle(),
          "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
          "\"iteration_end\": 0, \"strict_shape\": false}",
          &shape, &dim, &result),
      "predict");
  size_t total = 1;
  for (bst_ulong i = 0; i < dim; ++i) total *= shape[i];
  out->assign(result, result + total);
  return absl::OkStatus();
}

// The fitted model, from the boosted trees and the best round.
absl::StatusOr<std::unique_ptr<Model>> FinishedModel(
    const TreeJob& job, const TrainingData& train, const FitOptions& options,
    std::unique_ptr<Booster> final_booster, const DMatrix& dtrain,
    int best_iteration) {
  // With early stopping keep the trees up to the best round.
  auto rounds = final_booster->Rounds();
  if (!rounds.ok()) return rounds.status();
  const bool slice = job.early_stopping_rounds > 0 && best_iteration >= 0 &&
                     best_iteration + 1 < *rounds;
  if (options.train_predictions != nullptr && !slice) {
    // The training rows' predictions are cached for the whole model.
    if (absl::Status st = PredictTrainingRows(*final_booster, dtrain,
                                              options.train_predictions);
        !st.ok())
      return st;
    ToProbabilities(options.task, train.num_classes,
                    job.Param("objective") == "reg:squarederror",
                    options.train_predictions);
  }
  if (slice) {
    BoosterHandle out = nullptr;
    XGB_RETURN_IF_ERROR(
        XGBoosterSlice(final_booster->handle(), 0, best_iteration + 1, 1, &out),
        "slice");
    final_booster = std::make_unique<Booster>(out);
    *rounds = best_iteration + 1;
  }
  auto ubj = final_booster->Save();
  if (!ubj.ok()) return ubj.status();
  // Reload from the saved bytes: the model predicts exactly as a loaded one.
  auto loaded = LoadTrees(options.task, train.x.cols, train.num_classes, [&] {
    v1::TreeEnsembleParameters p;
    p.set_xgboost_ubj(*ubj);
    p.set_rounds(*rounds);
    p.set_best_iteration(best_iteration < 0 ? *rounds - 1 : best_iteration);
    return p;
  }());
  return loaded;
}

// This process in a collective fit, from Join to destruction: XGBoost's
// communicator is the process's, so one at a time.
class CollectiveScope {
 public:
  static absl::StatusOr<std::unique_ptr<CollectiveScope>> Join(
      const Collective* c) {
    if (c == nullptr) return std::unique_ptr<CollectiveScope>();
    static std::mutex one_at_a_time;
    std::unique_lock lock(one_at_a_time, std::try_to_lock);
    if (!lock.owns_lock()) {
      return absl::FailedPreconditionError(
          "a collective fit is running in this process already");
    }
    const std::string config =
        StrCat("{\"dmlc_communicator\": \"rabit\", \"DMLC_TRACKER_URI\": \"",
               c->tracker_host, "\", \"DMLC_TRACKER_PORT\": ", c->tracker_port,
               ", \"DMLC_TASK_ID\": \"", c->task_id,
               "\", \"DMLC_NUM_WORKER\": ", c->workers, "}");
    XGB_RETURN_IF_ERROR(XGCommunicatorInit(config.c_str()), "collective");
    return std::unique_ptr<CollectiveScope>(
        new CollectiveScope(std::move(lock)));
  }
  ~CollectiveScope() { XGCommunicatorFinalize(); }

 private:
  explicit CollectiveScope(std::unique_lock<std::mutex> lock)
      : lock_(std::move(lock)) {}
  std::unique_lock<std::mutex> lock_;
};

// A collective fit's failure: a lost worker shows as a failed all-reduce.
absl::Status CollectiveError(const absl::Status& s) {
  if (s.ok() || !absl::IsInternal(s)) return s;
  return absl::UnavailableError(StrCat(
      "collective fit: another worker was lost or failed (", s.message(), ")"));
}

absl::StatusOr<std::unique_ptr<Model>> FitTrees(
    const TreeJob& job, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options);

absl::StatusOr<std::unique_ptr<Model>> Train(const TreeJob& job,
                                             const TrainingData& train,
                                             const std::vector<double>& weights,
                                             const FitOptions& options) {
  auto scope = CollectiveScope::Join(options.collective);
  if (!scope.ok()) return scope.status();
  auto model = FitTrees(job, train, weights, options);
  if (options.collective != nullptr && !model.ok())
    return CollectiveError(model.status());
  return model;
}

// The fit itself, the communicator (if any) joined.
absl::StatusOr<std::unique_ptr<Model>> FitTrees(
    const TreeJob& job, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options) {
  auto dtrain = TrainingMatrix(job, train, weights, options.threads);
  if (!dtrain.ok()) return dtrain.status();
  auto deval = EarlyStoppingMatrix(job, options);
  if (!deval.ok()) return deval.status();
  // Early stopping scores the eval rows every round: keep their predictions
  // cached. Otherwise progress reports the training loss, which the
  // training rows' cache gives for free (as xgb.train without evals).
  const bool early = job.early_stopping_rounds > 0 && *deval != nullptr;
  std::vector<DMatrixHandle> cache = {(*dtrain)->handle()};
  if (early) cache.push_back((*deval)->handle());
  auto booster = ConfiguredBooster(job, options.threads, std::move(cache));
  if (!booster.ok()) return booster.status();

  BoostState state;
  state.best_score = HigherIsBetter(job.eval_metric) ? -INFINITY : INFINITY;
  if (options.resume != nullptr) {
    if (absl::Status st = Resume(*options.resume, **booster, &state); !st.ok())
      return st;
  }
  if (absl::Status st = Boost(job, options, **booster, **dtrain,
                              early ? deval->get() : nullptr, &state);
      !st.ok())
    return st;
  return FinishedModel(job, train, options, *std::move(booster), **dtrain,
                       state.best_iteration);
}

void ObjectiveParams(v1::Task task, int classes, TreeJob* job,
                     const std::string& metric) {
  if (task == v1::BINARY) {
    job->params.push_back({"objective", "binary:logistic"});
    job->eval_metric = metric.empty() ? "logloss" : metric;
  } else if (task == v1::MULTICLASS) {
    job->params.push_back({"objective", "multi:softprob"});
    job->params.push_back({"num_class", std::to_string(classes)});
    job->eval_metric = metric.empty() ? "mlogloss" : metric;
  } else {
    job->params.push_back({"objective", "reg:squarederror"});
    job->eval_metric = metric.empty() ? "rmse" : metric;
  }
}

std::string Num(double v) { return StrCat(v); }

absl::Status CheckTask(const FitOptions& options, const TrainingData& train,
                       const char* algorithm) {
  if (options.task != v1::BINARY && options.task != v1::MULTICLASS &&
      options.task != v1::REGRESSION) {
    return absl::InvalidArgumentError(
        StrCat("task: ", algorithm, " does binary, multiclass or regression"));
  }
  if (train.y.size() != train.rows()) {
    return absl::InvalidArgumentError(
        StrCat("label: required for ", algorithm));
  }
  if (train.rows() == 0) {
    return absl::InvalidArgumentError("train: no rows");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> FitGbdt(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options) {
  TreeJob job;
  job.rounds = static_cast<int>(params.Int("rounds", 100, 1, 100000));
  job.early_stopping_rounds =
      static_cast<int>(params.Int("early_stopping_rounds", 0, 0, 100000));
  std::string metric = params.Choice("eval_metric", "",
                                     {"", "auc", "aucpr", "logloss", "error",
                                      "mlogloss", "merror", "rmse", "mae"});
  auto num = [&](const char* name, double fallback, double lo, double hi) {
    job.params.push_back({name, Num(params.Number(name, fallback, lo, hi))});
  };
  num("eta", 0.3, 0, 1);
  job.params.push_back({"max_depth", Num(params.Int("max_depth", 6, 0, 64))});
  num("min_child_weight", 1, 0, 1e12);
  num("subsample", 1, 1e-6, 1);
  num("colsample_bytree", 1, 1e-6, 1);
  num("colsample_bynode", 1, 1e-6, 1);
  num("lambda", 1, 0, 1e12);
  num("alpha", 0, 0, 1e12);
  num("gamma", 0, 0, 1e12);
  num("scale_pos_weight", 1, 1e-12, 1e12);
  job.params.push_back({"max_bin", Num(params.Int("max_bin", 256, 2, 65536))});
  job.params.push_back(
      {"tree_method",
       params.Choice("tree_method", "hist", {"hist", "approx", "exact"})});
  job.params.push_back({"seed", Num(params.Int("seed", 0, 0, 1LL << 31))});
  if (absl::Status st = params.Check(); !st.ok()) return st;
  if (options.params_only) return std::unique_ptr<Model>();
  if (absl::Status st = CheckTask(options, train, "gbdt"); !st.ok()) return st;
  ObjectiveParams(options.task, train.num_classes, &job, metric);
  return Train(job, train, weights, options);
}

// A random forest as scikit-learn's: bootstrap-like row samples (0.632,
// the share of distinct rows in a bootstrap sample), sqrt(p) of the p
// features tried per split for classification (all for regression), deep
// trees (up to 2,048 leaves each: unbounded, a 3M-row set would make a
// model of gigabytes), leaves of one row. XGBoost's forest mode is one
// round of `trees` parallel trees with the learning rate divided among
// them: a binary forest on the logistic loss is the mean of single Newton
// steps from 0.5, which bounds its probabilities (P <= 0.88); on the
// squared error of the 0/1 label each leaf is its rows' share of positives
// (the split criterion is then Gini's) and the forest's output their mean,
// the probability scikit-learn's forest gives. Multiclass likewise, on one
// column of 0/1 per class (XGBoost's multi-target trees, one per class):
// softprob would bound the probabilities as the logistic loss does.
absl::StatusOr<std::unique_ptr<Model>> FitRandomForest(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options) {
  TreeJob job;
  job.rounds = 1;
  const bool classes =
      options.task == v1::BINARY || options.task == v1::MULTICLASS;
  const double p = static_cast<double>(std::max<size_t>(train.x.cols, 1));
  job.params.push_back(
      {"num_parallel_tree", Num(params.Int("trees", 100, 1, 100000))});
  // max_depth 0: as deep as max_leaves allows.
  const int64_t depth = params.Int("max_depth", 0, 0, 64);
  job.params.push_back({"max_depth", Num(depth)});
  job.params.push_back(
      {"max_leaves", Num(params.Int("max_leaves", 2048, 0, 1 << 20))});
  if (depth == 0) job.params.push_back({"grow_policy", "lossguide"});
  job.params.push_back(
      {"subsample", Num(params.Number("subsample", 0.632, 1e-6, 1))});
  job.params.push_back(
      {"colsample_bynode",
       Num(params.Number("colsample_bynode",
                         classes ? std::min(1.0, std::sqrt(p) / p) : 1.0, 1e-6,
                         1))});
  job.params.push_back(
      {"min_child_weight", Num(params.Number("min_child_weight", 1, 0, 1e12))});
  job.params.push_back({"lambda", Num(params.Number("lambda", 1e-5, 0, 1e12))});
  job.params.push_back({"max_bin", Num(params.Int("max_bin", 256, 2, 65536))});
  job.params.push_back({"seed", Num(params.Int("seed", 0, 0, 1LL << 31))});
  job.params.push_back({"eta", "1"});
  job.params.push_back({"tree_method", "hist"});
  if (absl::Status st = params.Check(); !st.ok()) return st;
  if (options.params_only) return std::unique_ptr<Model>();
  if (absl::Status st = CheckTask(options, train, "random_forest"); !st.ok())
    return st;
  if (options.task == v1::BINARY) {
    // The mean of the leaves' shares of positives (see above); a
    // probability, so logloss is its metric.
    job.params.push_back({"objective", "reg:squarederror"});
    job.params.push_back({"base_score", "0.5"});
    job.eval_metric = "logloss";
  } else if (options.task == v1::MULTICLASS) {
    // One-hot targets: per class a forest of its shares (see above).
    job.params.push_back({"objective", "reg:squarederror"});
    job.params.push_back({"base_score", "0.5"});
    job.one_hot = train.num_classes;
    job.eval_metric = "rmse";
  } else {
    ObjectiveParams(options.task, train.num_classes, &job, "");
  }
  return Train(job, train, weights, options);
}

absl::StatusOr<std::unique_ptr<Model>> LoadTrees(
    v1::Task task, size_t num_features, int num_classes,
    const v1::TreeEnsembleParameters& p) {
  // XGBoost's reader trusts the lengths in the bytes (ubjson.h), and its
  // loader and predictor the sizes and indices in the trees (CheckTrees: an
  // array shorter than its tree or a child index out of it crashed them).
  // What passes is what XGBoost holds once it loads the bytes.
  auto input = ParseUbjson(p.xgboost_ubj());
  if (!input.ok()) {
    return absl::DataLossError(
        StrCat("tree parameters: xgboost_ubj: ", input.status().message()));
  }
  if (absl::Status st = input->has_struct_value()
                            ? CheckTrees(input->struct_value(), num_features)
                            : absl::DataLossError("not a gbtree model");
      !st.ok()) {
    return absl::DataLossError(
        StrCat("tree parameters: xgboost_ubj: ", st.message()));
  }
  auto booster = Booster::Make({});
  if (!booster.ok()) return booster.status();
  if (absl::Status st = (*booster)->Load(p.xgboost_ubj()); !st.ok()) {
    return absl::DataLossError(StrCat("tree parameters: ", st.message()));
  }
  // Predict runs on its caller's thread (see Model).
  if (absl::Status st = (*booster)->Set("nthread", "1"); !st.ok()) return st;
  bst_ulong features = 0;
  if (XGBoosterGetNumFeature((*booster)->handle(), &features) != 0 ||
      features != num_features) {
    return absl::DataLossError(StrCat("tree parameters: the model has ",
                                      features, " features, the artifact ",
                                      num_features));
  }
  const Struct* learner = Object(&input->struct_value(), "learner");
  const std::string objective = Text(Object(learner, "objective"), "name");
  const int64_t outputs = OutputsPerRow(learner);
  if (outputs != (task == v1::MULTICLASS ? num_classes : 1)) {
    return absl::DataLossError(
        StrCat("tree parameters: the model has ", outputs,
               " outputs per row, the task ",
               task == v1::MULTICLASS ? num_classes : 1));
  }
  auto model = std::make_unique<TreeModel>(
      task, num_features, num_classes, objective == "reg:squarederror",
      std::move(*booster), p.xgboost_ubj(), p.rounds(), p.best_iteration());
  model->UseFlatForest(FlatForest::From(input->struct_value(), num_features));
  return model;
}

bool UsesFlatForest(const Model& model) {
  auto* trees = dynamic_cast<const TreeModel*>(&model);
  return trees != nullptr && trees->flat();
}

}  // namespace mlpipe::ml::internal
