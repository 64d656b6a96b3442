// k-means: greedy k-means++ seeding and Lloyd iterations, best of n_init
// runs by inertia (scikit-learn's KMeans(algorithm="lloyd")).
#include <cmath>
#include <cstring>
#include <limits>

#include "common/ml/algorithms.h"
#include "common/util/hash.h"
#include "common/util/strings.h"

namespace mlpipe::ml::internal {
namespace {

double SquaredDistance(const double* a, const double* b, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j) {
    double t = a[j] - b[j];
    s += t * t;
  }
  return s;
}

class KMeansModel final : public Model {
 public:
  KMeansModel(size_t d, int k, std::vector<double> centroids, double inertia,
              int iterations)
      : d_(d),
        k_(k),
        centroids_(std::move(centroids)),
        inertia_(inertia),
        iterations_(iterations) {}
  v1::Task task() const override { return v1::CLUSTERING; }
  size_t num_features() const override { return d_; }
  int OutputWidth() const override { return 1; }
  absl::Status Predict(MatrixView x, std::vector<double>* out) const override {
    if (x.cols != d_) {
      return absl::InvalidArgumentError(
          StrCat("expected ", d_, " features, got ", x.cols));
    }
    out->resize(x.rows);
    for (size_t i = 0; i < x.rows; ++i) {
      int best = 0;
      double best_d = std::numeric_limits<double>::infinity();
      for (int c = 0; c < k_; ++c) {
        double dist = SquaredDistance(x.Row(i), centroids_.data() + c * d_, d_);
        if (dist < best_d) {
          best_d = dist;
          best = c;
        }
      }
      (*out)[i] = best;
    }
    return absl::OkStatus();
  }
  v1::LearnedParameters Parameters() const override {
    v1::LearnedParameters p;
    auto* c = p.mutable_clusters();
    c->set_k(k_);
    c->mutable_centroids()->Assign(centroids_.begin(), centroids_.end());
    c->set_inertia(inertia_);
    c->set_iterations(iterations_);
    return p;
  }

 private:
  const size_t d_;
  const int k_;
  const std::vector<double> centroids_;
  const double inertia_;
  const int iterations_;
};

struct Run {
  std::vector<double> centroids;
  double inertia = std::numeric_limits<double>::infinity();
  int iterations = 0;
};

// Greedy k-means++: each new centre is the best (lowest potential) of
// 2 + log(k) candidates drawn in proportion to the squared distance.
std::vector<double> SeedPlusPlus(const Matrix& x, const std::vector<double>& w,
                                 int k, UniformStream& rng) {
  const size_t n = x.rows, d = x.cols;
  std::vector<double> centres(k * d);
  auto draw = [&](const std::vector<double>& weights, double total) {
    double r = rng.Next() * total;
    double acc = 0;
    for (size_t i = 0; i < n; ++i) {
      acc += weights[i];
      if (acc > r) return i;
    }
    return n - 1;
  };
  std::vector<double> ones(n);
  double total_w = 0;
  for (size_t i = 0; i < n; ++i) total_w += (ones[i] = w[i]);
  size_t first = draw(ones, total_w);
  std::memcpy(centres.data(), x.Row(first), d * sizeof(double));
  std::vector<double> closest(n), scratch(n), best_closest(n), pot(n);
  double potential = 0;
  for (size_t i = 0; i < n; ++i) {
    closest[i] = SquaredDistance(x.Row(i), centres.data(), d);
    potential += w[i] * closest[i];
  }
  const int trials = 2 + static_cast<int>(std::log(k));
  for (int c = 1; c < k; ++c) {
    for (size_t i = 0; i < n; ++i) pot[i] = w[i] * closest[i];
    double best_potential = std::numeric_limits<double>::infinity();
    size_t best_candidate = 0;
    for (int t = 0; t < trials; ++t) {
      size_t cand = potential > 0 ? draw(pot, potential) : draw(ones, total_w);
      double p = 0;
      for (size_t i = 0; i < n; ++i) {
        scratch[i] =
            std::min(closest[i], SquaredDistance(x.Row(i), x.Row(cand), d));
        p += w[i] * scratch[i];
      }
      if (p < best_potential) {
        best_potential = p;
        best_candidate = cand;
        best_closest.swap(scratch);
      }
    }
    std::memcpy(centres.data() + c * d, x.Row(best_candidate),
                d * sizeof(double));
    closest.swap(best_closest);
    potential = best_potential;
  }
  return centres;
}

// Lloyd iterations until the squared centre shift is <= tol.
Run Lloyd(const Matrix& x, const std::vector<double>& w, int k,
          std::vector<double> centres, int max_iter, double tol, int threads) {
  const size_t n = x.rows, d = x.cols;
  std::vector<int> label(n);
  Run run;
  auto assign = [&](double* inertia_out) {
    std::vector<double> parts(threads, 0.0);
    ParallelFor(n, threads, [&](size_t begin, size_t end, int part) {
      double inertia = 0;
      for (size_t i = begin; i < end; ++i) {
        int best = 0;
        double best_d = std::numeric_limits<double>::infinity();
        for (int c = 0; c < k; ++c) {
          double dist = SquaredDistance(x.Row(i), centres.data() + c * d, d);
          if (dist < best_d) {
            best_d = dist;
            best = c;
          }
        }
        label[i] = best;
        inertia += w[i] * best_d;
      }
      parts[part] = inertia;
    });
    double total = 0;
    for (double p : parts) total += p;
    *inertia_out = total;
  };
  double inertia = 0;
  for (int iter = 0; iter < max_iter; ++iter) {
    assign(&inertia);
    std::vector<double> sums(k * d, 0.0), weight(k, 0.0);
    for (size_t i = 0; i < n; ++i) {
      double* s = sums.data() + label[i] * d;
      const double* row = x.Row(i);
      for (size_t j = 0; j < d; ++j) s[j] += w[i] * row[j];
      weight[label[i]] += w[i];
    }
    double shift = 0;
    for (int c = 0; c < k; ++c) {
      if (weight[c] == 0) continue;  // An empty cluster keeps its centre.
      for (size_t j = 0; j < d; ++j) {
        double v = sums[c * d + j] / weight[c];
        double t = v - centres[c * d + j];
        shift += t * t;
        centres[c * d + j] = v;
      }
    }
    run.iterations = iter + 1;
    if (shift <= tol) break;
  }
  assign(&inertia);  // Labels and inertia for the final centres.
  run.centroids = std::move(centres);
  run.inertia = inertia;
  return run;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> FitKMeans(
    Params& params, const TrainingData& train,
    const std::vector<double>& weights, const FitOptions& options) {
  int k = static_cast<int>(params.Int("k", 8, 1, 100000));
  int n_init = static_cast<int>(params.Int("n_init", 10, 1, 10000));
  int max_iter = static_cast<int>(params.Int("max_iter", 300, 1, 1000000));
  double tol = params.Number("tol", 1e-4, 0, 1);
  uint64_t seed = static_cast<uint64_t>(params.Int("seed", 0, 0, 1LL << 53));
  if (absl::Status st = params.Check(); !st.ok()) return st;
  if (options.params_only) return std::unique_ptr<Model>();
  if (absl::Status st = RequireFinite(train); !st.ok()) return st;
  const Matrix& x = train.x;
  if (x.rows < static_cast<size_t>(k)) {
    return absl::InvalidArgumentError(StrCat(
        "params.k: ", k, " clusters need at least as many rows; got ", x.rows));
  }
  // Tolerance relative to the data's spread, as scikit-learn: tol times the
  // mean variance of the features.
  double mean_var = 0;
  for (size_t j = 0; j < x.cols; ++j) {
    double m = 0, s = 0;
    for (size_t i = 0; i < x.rows; ++i) m += x.Row(i)[j];
    m /= x.rows;
    for (size_t i = 0; i < x.rows; ++i)
      s += (x.Row(i)[j] - m) * (x.Row(i)[j] - m);
    mean_var += s / x.rows;
  }
  mean_var /= std::max<size_t>(x.cols, 1);
  double abs_tol = tol * mean_var;

  // Checkpoint state: [inits done, best inertia, best iterations, centroids].
  Run best;
  int first = 0;
  if (options.resume != nullptr) {
    const std::string& s = options.resume->state;
    size_t want = (3 + k * x.cols) * sizeof(double);
    if (s.size() != want) {
      return absl::DataLossError(StrCat("kmeans checkpoint has ", s.size(),
                                        " bytes, expected ", want));
    }
    std::vector<double> v(3 + k * x.cols);
    std::memcpy(v.data(), s.data(), s.size());
    first = static_cast<int>(v[0]);
    best.inertia = v[1];
    best.iterations = static_cast<int>(v[2]);
    best.centroids.assign(v.begin() + 3, v.end());
  }
  for (int init = first; init < n_init; ++init) {
    UniformStream rng(SplitMix64(seed) ^ SplitMix64(init + 1));
    Run run = Lloyd(x, weights, k, SeedPlusPlus(x, weights, k, rng), max_iter,
                    abs_tol, options.threads);
    if (run.inertia < best.inertia) best = std::move(run);
    if (options.on_progress) {
      absl::Status st = options.on_progress({init + 1, n_init, best.inertia});
      if (!st.ok()) return st;
    }
    if (options.on_checkpoint && options.checkpoint_every > 0 &&
        (init + 1) % options.checkpoint_every == 0 && init + 1 < n_init) {
      std::vector<double> v = {static_cast<double>(init + 1), best.inertia,
                               static_cast<double>(best.iterations)};
      v.insert(v.end(), best.centroids.begin(), best.centroids.end());
      absl::Status st = options.on_checkpoint(
          {init + 1, std::string(reinterpret_cast<const char*>(v.data()),
                                 v.size() * sizeof(double))});
      if (!st.ok()) return st;
    }
  }
  return std::make_unique<KMeansModel>(x.cols, k, std::move(best.centroids),
                                       best.inertia, best.iterations);
}

absl::StatusOr<std::unique_ptr<Model>> LoadKMeans(
    size_t num_features, const v1::ClusterParameters& p) {
  if (p.k() < 1 ||
      p.centroids_size() != static_cast<int>(p.k() * num_features)) {
    return absl::DataLossError(
        StrCat("cluster parameters: ", p.centroids_size(),
               " centroid values do not fit k=", p.k(), " and ", num_features,
               " features"));
  }
  return std::make_unique<KMeansModel>(
      num_features, p.k(),
      std::vector<double>(p.centroids().begin(), p.centroids().end()),
      p.inertia(), p.iterations());
}

}  // namespace mlpipe::ml::internal
