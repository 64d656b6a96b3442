// Linear models: ridge regression (closed form or L-BFGS), binary logistic
// regression (L2 by L-BFGS, L1 by OWL-QN) and softmax regression.
#include <cmath>
#include <cstring>

#include "common/ml/algorithms.h"
#include "common/ml/lbfgs.h"
#include "common/util/strings.h"

namespace mlpipe::ml::internal {
namespace {

// w . x with four partial sums, so the compiler can keep them in vector
// registers (a single running sum is a serial dependency chain).
double Dot(const double* w, const double* x, size_t d) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t j = 0;
  for (; j + 4 <= d; j += 4) {
    s0 += w[j] * x[j];
    s1 += w[j + 1] * x[j + 1];
    s2 += w[j + 2] * x[j + 2];
    s3 += w[j + 3] * x[j + 3];
  }
  for (; j < d; ++j) s0 += w[j] * x[j];
  return (s0 + s1) + (s2 + s3);
}

// One row of weights per output; intercepts.
class LinearModel final : public Model {
 public:
  LinearModel(v1::Task task, size_t features, int outputs,
              std::vector<double> weights, std::vector<double> intercepts)
      : task_(task),
        features_(features),
        outputs_(outputs),
        weights_(std::move(weights)),
        intercepts_(std::move(intercepts)) {}

  v1::Task task() const override { return task_; }
  size_t num_features() const override { return features_; }
  int OutputWidth() const override { return outputs_; }

  absl::Status Predict(MatrixView x, std::vector<double>* out) const override {
    if (x.cols != features_) {
      return absl::InvalidArgumentError(
          StrCat("expected ", features_, " features, got ", x.cols));
    }
    out->resize(x.rows * outputs_);
    std::vector<double> z(outputs_);
    for (size_t i = 0; i < x.rows; ++i) {
      const double* row = x.Row(i);
      for (int o = 0; o < outputs_; ++o) {
        const double* w = weights_.data() + o * features_;
        z[o] = intercepts_[o] + Dot(w, row, features_);
      }
      double* dst = out->data() + i * outputs_;
      if (task_ == v1::BINARY) {
        dst[0] = 1.0 / (1.0 + std::exp(-z[0]));
      } else if (task_ == v1::MULTICLASS) {
        double mx = z[0];
        for (double v : z) mx = std::max(mx, v);
        double sum = 0;
        for (int o = 0; o < outputs_; ++o)
          sum += (dst[o] = std::exp(z[o] - mx));
        for (int o = 0; o < outputs_; ++o) dst[o] /= sum;
      } else {
        dst[0] = z[0];
      }
    }
    return absl::OkStatus();
  }

  v1::LearnedParameters Parameters() const override {
    v1::LearnedParameters p;
    auto* l = p.mutable_linear();
    l->set_outputs(outputs_);
    l->mutable_weights()->Assign(weights_.begin(), weights_.end());
    l->mutable_intercepts()->Assign(intercepts_.begin(), intercepts_.end());
    return p;
  }

 private:
  const v1::Task task_;
  const size_t features_;
  const int outputs_;
  const std::vector<double> weights_;     // outputs x features.
  const std::vector<double> intercepts_;  // outputs.
};

double Softplus(double z) {
  return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z));
}

double Sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// The shared shape of the three losses: parameters are `outputs` rows of
// (features weights, 1 intercept); the loss of one row is computed from its
// scores z and writes dloss/dz.
struct LinearProblem {
  const TrainingData* data;
  const std::vector<double>* weights;
  int outputs;
  bool fit_intercept;
  double l2;         // On the weights (not the intercepts), already / W.
  double inv_total;  // 1 / sum of row weights.
  int threads;
  // Row loss and dloss/dz for scores z (size outputs).
  double (*row_loss)(const double* z, double y, int outputs, double* dz);

  size_t size() const { return outputs * (data->x.cols + 1); }

  double operator()(const std::vector<double>& w,
                    std::vector<double>* g) const {
    const size_t d = data->x.cols;
    const size_t stride = d + 1;
    std::vector<std::vector<double>> partial_g(threads);
    std::vector<double> partial_f(threads, 0.0);
    ParallelFor(data->x.rows, threads, [&](size_t begin, size_t end, int part) {
      std::vector<double>& pg = partial_g[part];
      pg.assign(w.size(), 0.0);
      std::vector<double> z(outputs), dz(outputs);
      double f = 0;
      for (size_t i = begin; i < end; ++i) {
        const double* row = data->x.Row(i);
        for (int o = 0; o < outputs; ++o) {
          const double* wo = w.data() + o * stride;
          z[o] = wo[d] + Dot(wo, row, d);
        }
        double rw = (*weights)[i];
        f += rw * row_loss(z.data(), data->y.empty() ? 0 : data->y[i], outputs,
                           dz.data());
        for (int o = 0; o < outputs; ++o) {
          double c = rw * dz[o];
          if (c == 0) continue;
          double* go = pg.data() + o * stride;
          for (size_t j = 0; j < d; ++j) go[j] += c * row[j];
          go[d] += c;
        }
      }
      partial_f[part] = f;
    });
    g->assign(w.size(), 0.0);
    double f = 0;
    for (int t = 0; t < threads; ++t) {
      if (partial_g[t].empty()) continue;
      f += partial_f[t];
      for (size_t k = 0; k < w.size(); ++k) (*g)[k] += partial_g[t][k];
    }
    f *= inv_total;
    for (double& v : *g) v *= inv_total;
    for (int o = 0; o < outputs; ++o) {
      for (size_t j = 0; j < d; ++j) {
        double wj = w[o * stride + j];
        f += 0.5 * l2 * wj * wj;
        (*g)[o * stride + j] += l2 * wj;
      }
      if (!fit_intercept) (*g)[o * stride + d] = 0;
    }
    return f;
  }
};

double SquaredLoss(const double* z, double y, int, double* dz) {
  double r = z[0] - y;
  dz[0] = r;
  return 0.5 * r * r;
}

double LogisticLoss(const double* z, double y, int, double* dz) {
  dz[0] = 1.0 / (1.0 + std::exp(-z[0])) - y;
  return Softplus(z[0]) - y * z[0];
}

double SoftmaxLoss(const double* z, double y, int outputs, double* dz) {
  double mx = z[0];
  for (int o = 1; o < outputs; ++o) mx = std::max(mx, z[o]);
  double sum = 0;
  for (int o = 0; o < outputs; ++o) sum += (dz[o] = std::exp(z[o] - mx));
  int label = static_cast<int>(y);
  for (int o = 0; o < outputs; ++o) dz[o] = dz[o] / sum - (o == label ? 1 : 0);
  return std::log(sum) + mx - z[label];
}

struct SolverOptions {
  double c = 1.0;              // Inverse regularization (scikit-learn's C).
  std::string penalty = "l2";  // l2, l1, none.
  bool fit_intercept = true;
  int max_iter = 1000;
  double tol = 1e-6;
};

// C, penalty, or l2 / l1 given as a strength.
SolverOptions ReadSolverOptions(Params& params, bool allow_l1) {
  SolverOptions o;
  std::vector<std::string> penalties = {"l2", "none"};
  if (allow_l1) penalties.push_back("l1");
  o.penalty = params.Choice("penalty", "l2", penalties);
  o.c = params.Number("C", 1.0, 1e-12, 1e12);
  double l2 = params.Number("l2", 0, 0, 1e12);
  double l1 = allow_l1 ? params.Number("l1", 0, 0, 1e12) : 0;
  if (l2 > 0) {
    o.penalty = "l2";
    o.c = 1.0 / l2;
  } else if (l1 > 0) {
    o.penalty = "l1";
    o.c = 1.0 / l1;
  } else if (params.Has("l2") || params.Has("l1")) {
    o.penalty = "none";
  }
  o.fit_intercept = params.Bool("fit_intercept", true);
  o.max_iter = static_cast<int>(params.Int("max_iter", 1000, 1, 1000000));
  o.tol = params.Number("tol", 1e-6, 0, 1);
  return o;
}

// Solver state in a checkpoint: the parameter vector as raw doubles.
std::string PackState(const std::vector<double>& w) {
  return std::string(reinterpret_cast<const char*>(w.data()),
                     w.size() * sizeof(double));
}

absl::Status UnpackState(const Checkpoint& cp, std::vector<double>* w) {
  if (cp.state.size() != w->size() * sizeof(double)) {
    return absl::DataLossError(StrCat("checkpoint has ", cp.state.size(),
                                      " bytes, expected ",
                                      w->size() * sizeof(double)));
  }
  std::memcpy(w->data(), cp.state.data(), cp.state.size());
  return absl::OkStatus();
}

// Minimizes the problem with checkpoints and progress; returns the
// parameter vector.
absl::StatusOr<std::vector<double>> Solve(const LinearProblem& problem,
                                          const SolverOptions& so,
                                          double l1_strength,
                                          const FitOptions& options) {
  std::vector<double> w(problem.size(), 0.0);
  int first = 0;
  if (options.resume != nullptr) {
    absl::Status st = UnpackState(*options.resume, &w);
    if (!st.ok()) return st;
    first = static_cast<int>(options.resume->iteration);
  }
  LbfgsOptions lo;
  lo.max_iterations = so.max_iter;
  lo.gradient_tolerance = so.tol;
  // scipy L-BFGS-B stops at a relative decrease of 2.2e-9 (factr 1e7); OWL-QN
  // needs to go further for the small weights to reach exactly zero.
  lo.relative_tolerance = l1_strength > 0 ? 1e-15 : 2.2e-9;
  lo.l1 = l1_strength;
  if (lo.l1 > 0) {
    const size_t stride = problem.data->x.cols + 1;
    lo.l1_mask.assign(w.size(), true);
    for (size_t k = stride - 1; k < w.size(); k += stride)
      lo.l1_mask[k] = false;
  }
  LbfgsResult result;
  absl::Status st = Minimize(
      problem, lo, first,
      [&](int iter, double value, const std::vector<double>& wi) {
        if (options.on_progress && (iter % 10 == 0 || iter == 1)) {
          absl::Status s = options.on_progress({iter, so.max_iter, value});
          if (!s.ok()) return s;
        }
        if (options.on_checkpoint && options.checkpoint_every > 0 &&
            iter % options.checkpoint_every == 0) {
          return options.on_checkpoint({iter, PackState(wi)});
        }
        return absl::OkStatus();
      },
      &w, &result);
  if (!st.ok()) return st;
  if (options.on_progress) {
    st = options.on_progress(
        {result.iterations, result.iterations, result.value});
    if (!st.ok()) return st;
  }
  return w;
}

std::unique_ptr<Model> MakeLinear(v1::Task task, size_t d, int outputs,
                                  const std::vector<double>& w) {
  std::vector<double> weights(outputs * d), intercepts(outputs);
  for (int o = 0; o < outputs; ++o) {
    for (size_t j = 0; j < d; ++j) weights[o * d + j] = w[o * (d + 1) + j];
    intercepts[o] = w[o * (d + 1) + d];
  }
  return std::make_unique<LinearModel>(task, d, outputs, std::move(weights),
                                       std::move(intercepts));
}

absl::Status CheckClasses(const TrainingData& train, int min_classes) {
  if (train.y.size() != train.rows()) {
    return absl::InvalidArgumentError("label: required for this algorithm");
  }
  std::vector<int64_t> counts(std::max(train.num_classes, 0), 0);
  for (double y : train.y) {
    int c = static_cast<int>(y);
    if (c < 0 || c >= train.num_classes || c != y) {
      return absl::InvalidArgumentError(
          StrCat("label: class index ", y, " out of range"));
    }
    ++counts[c];
  }
  int present = 0;
  for (int64_t n : counts) present += n > 0;
  if (present < min_classes) {
    return absl::InvalidArgumentError(StrCat("label: the training rows hold ",
                                             present, " class(es); at least ",
                                             min_classes, " needed"));
  }
  return absl::OkStatus();
}

// Ridge by the normal equations on centred data (weights honoured), solved
// by Cholesky, as scikit-learn's Ridge(solver="cholesky").
absl::StatusOr<std::vector<double>> RidgeClosedForm(
    const TrainingData& train, const std::vector<double>& rw, double alpha,
    bool fit_intercept, int threads) {
  const size_t d = train.x.cols, n = train.rows();
  std::vector<double> mean_x(d, 0.0);
  double mean_y = 0, total = Sum(rw);
  if (fit_intercept) {
    for (size_t i = 0; i < n; ++i) {
      const double* row = train.x.Row(i);
      for (size_t j = 0; j < d; ++j) mean_x[j] += rw[i] * row[j];
      mean_y += rw[i] * train.y[i];
    }
    for (double& m : mean_x) m /= total;
    mean_y /= total;
  }
  // A = Xc' W Xc + alpha I (upper triangle), b = Xc' W yc.
  std::vector<std::vector<double>> parts_a(threads), parts_b(threads);
  ParallelFor(n, threads, [&](size_t begin, size_t end, int part) {
    auto& a = parts_a[part];
    auto& b = parts_b[part];
    a.assign(d * d, 0.0);
    b.assign(d, 0.0);
    std::vector<double> xc(d);
    for (size_t i = begin; i < end; ++i) {
      const double* row = train.x.Row(i);
      for (size_t j = 0; j < d; ++j) xc[j] = row[j] - mean_x[j];
      double yc = train.y[i] - mean_y;
      for (size_t j = 0; j < d; ++j) {
        double c = rw[i] * xc[j];
        if (c == 0) continue;
        double* aj = a.data() + j * d;
        for (size_t k = j; k < d; ++k) aj[k] += c * xc[k];
        b[j] += c * yc;
      }
    }
  });
  std::vector<double> a(d * d, 0.0), b(d, 0.0);
  for (int t = 0; t < threads; ++t) {
    if (parts_a[t].empty()) continue;
    for (size_t k = 0; k < d * d; ++k) a[k] += parts_a[t][k];
    for (size_t k = 0; k < d; ++k) b[k] += parts_b[t][k];
  }
  for (size_t j = 0; j < d; ++j) {
    a[j * d + j] += alpha;
    for (size_t k = 0; k < j; ++k) a[j * d + k] = a[k * d + j];
  }
  // Cholesky: A = L L'.
  for (size_t j = 0; j < d; ++j) {
    double s = a[j * d + j];
    for (size_t k = 0; k < j; ++k) s -= a[j * d + k] * a[j * d + k];
    if (!(s > 1e-12 * std::max(1.0, std::abs(a[j * d + j])))) {
      return absl::InvalidArgumentError(StrCat(
          "features: the design matrix is singular (feature ",
          j < train.features.size() ? train.features[j] : std::to_string(j),
          " is constant or a combination of others); set alpha > 0"));
    }
    double l = std::sqrt(s);
    a[j * d + j] = l;
    for (size_t i = j + 1; i < d; ++i) {
      double t = a[i * d + j];
      for (size_t k = 0; k < j; ++k) t -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = t / l;
    }
  }
  std::vector<double> z(d), w(d + 1, 0.0);
  for (size_t i = 0; i < d; ++i) {
    double t = b[i];
    for (size_t k = 0; k < i; ++k) t -= a[i * d + k] * z[k];
    z[i] = t / a[i * d + i];
  }
  for (size_t i = d; i-- > 0;) {
    double t = z[i];
    for (size_t k = i + 1; k < d; ++k) t -= a[k * d + i] * w[k];
    w[i] = t / a[i * d + i];
  }
  double intercept = mean_y;
  for (size_t j = 0; j < d; ++j) intercept -= mean_x[j] * w[j];
  w[d] = fit_intercept ? intercept : 0.0;
  return w;
}

}  // namespace

absl::Status RequireFinite(const TrainingData& data) {
  const Matrix& x = data.x;
  for (size_t i = 0; i < x.rows; ++i) {
    const double* row = x.Row(i);
    for (size_t j = 0; j < x.cols; ++j) {
      if (!std::isfinite(row[j])) {
        return absl::InvalidArgumentError(StrCat(
            "feature ",
            j < data.features.size() ? data.features[j] : std::to_string(j),
            ": missing value in row ", i,
            " (this algorithm needs every value; impute it in the "
            "transforms)"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Model>> FitLinearRegression(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options) {
  double alpha = params.Number("alpha", 1.0, 0, 1e12);
  std::string solver =
      params.Choice("solver", "closed_form", {"closed_form", "lbfgs"});
  bool fit_intercept = params.Bool("fit_intercept", true);
  int max_iter = static_cast<int>(params.Int("max_iter", 1000, 1, 1000000));
  double tol = params.Number("tol", 1e-8, 0, 1);
  if (absl::Status st = params.Check(); !st.ok()) return st;
  if (options.params_only) return std::unique_ptr<Model>();
  if (absl::Status st = RequireFinite(train); !st.ok()) return st;
  if (train.y.size() != train.rows()) {
    return absl::InvalidArgumentError("label: required for linear_regression");
  }
  const size_t d = train.x.cols;
  if (solver == "closed_form") {
    auto w =
        RidgeClosedForm(train, weights, alpha, fit_intercept, options.threads);
    if (!w.ok()) return w.status();
    if (options.on_progress) {
      absl::Status st = options.on_progress({1, 1, 0});
      if (!st.ok()) return st;
    }
    return MakeLinear(v1::REGRESSION, d, 1, *w);
  }
  double total = Sum(weights);
  LinearProblem problem{&train,          &weights,      1,
                        fit_intercept,   alpha / total, 1.0 / total,
                        options.threads, SquaredLoss};
  SolverOptions so;
  so.max_iter = max_iter;
  so.tol = tol;
  auto w = Solve(problem, so, 0, options);
  if (!w.ok()) return w.status();
  return MakeLinear(v1::REGRESSION, d, 1, *w);
}

absl::StatusOr<std::unique_ptr<Model>> FitLogisticRegression(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options) {
  SolverOptions so = ReadSolverOptions(params, /*allow_l1=*/true);
  if (absl::Status st = params.Check(); !st.ok()) return st;
  if (options.params_only) return std::unique_ptr<Model>();
  if (absl::Status st = RequireFinite(train); !st.ok()) return st;
  if (absl::Status st = CheckClasses(train, 2); !st.ok()) return st;
  if (train.num_classes != 2) {
    return absl::InvalidArgumentError(
        StrCat("label: logistic_regression is binary; the label has ",
               train.num_classes, " classes (use softmax_regression)"));
  }
  // Objective / W: sum of losses + ||w||^2 / 2C (or ||w||_1 / C).
  double total = Sum(weights);
  double inv_c = 1.0 / so.c;
  LinearProblem problem{&train,
                        &weights,
                        1,
                        so.fit_intercept,
                        so.penalty == "l2" ? inv_c / total : 0.0,
                        1.0 / total,
                        options.threads,
                        LogisticLoss};
  auto w =
      Solve(problem, so, so.penalty == "l1" ? inv_c / total : 0.0, options);
  if (!w.ok()) return w.status();
  return MakeLinear(v1::BINARY, train.x.cols, 1, *w);
}

absl::StatusOr<std::unique_ptr<Model>> FitSoftmaxRegression(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options) {
  SolverOptions so = ReadSolverOptions(params, /*allow_l1=*/false);
  if (absl::Status st = params.Check(); !st.ok()) return st;
  if (options.params_only) return std::unique_ptr<Model>();
  if (absl::Status st = RequireFinite(train); !st.ok()) return st;
  if (absl::Status st = CheckClasses(train, 2); !st.ok()) return st;
  double total = Sum(weights);
  LinearProblem problem{&train,
                        &weights,
                        train.num_classes,
                        so.fit_intercept,
                        so.penalty == "l2" ? 1.0 / so.c / total : 0.0,
                        1.0 / total,
                        options.threads,
                        SoftmaxLoss};
  auto w = Solve(problem, so, 0, options);
  if (!w.ok()) return w.status();
  return MakeLinear(v1::MULTICLASS, train.x.cols, train.num_classes, *w);
}

absl::StatusOr<std::unique_ptr<Model>> LoadLinear(
    v1::Task task, size_t num_features, int num_classes,
    const v1::LinearParameters& p) {
  int outputs = task == v1::MULTICLASS ? num_classes : 1;
  if (p.outputs() != outputs ||
      p.weights_size() != static_cast<int>(outputs * num_features) ||
      p.intercepts_size() != outputs) {
    return absl::DataLossError(StrCat(
        "linear parameters: ", p.outputs(), " outputs, ", p.weights_size(),
        " weights, ", p.intercepts_size(), " intercepts do not fit ",
        num_features, " features and ", outputs, " output(s)"));
  }
  if (task != v1::BINARY && task != v1::MULTICLASS && task != v1::REGRESSION) {
    return absl::DataLossError(
        "linear parameters: task must be binary, multiclass or regression");
  }
  return std::make_unique<LinearModel>(
      task, num_features, outputs,
      std::vector<double>(p.weights().begin(), p.weights().end()),
      std::vector<double>(p.intercepts().begin(), p.intercepts().end()));
}

}  // namespace mlpipe::ml::internal
