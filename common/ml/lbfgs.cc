#include "common/ml/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>

namespace mlpipe::ml {
namespace {

double Dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double Sign(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

class L1Term {
 public:
  explicit L1Term(const LbfgsOptions& o) : l1_(o.l1), mask_(o.l1_mask) {}
  bool active() const { return l1_ > 0; }
  bool On(size_t j) const { return mask_.empty() || mask_[j]; }
  double Value(const std::vector<double>& w) const {
    if (!active()) return 0;
    double s = 0;
    for (size_t j = 0; j < w.size(); ++j) {
      if (On(j)) s += std::abs(w[j]);
    }
    return l1_ * s;
  }
  // The pseudo-gradient of f + l1 |w| (the gradient itself without L1).
  void PseudoGradient(const std::vector<double>& w,
                      const std::vector<double>& g,
                      std::vector<double>* pg) const {
    *pg = g;
    if (!active()) return;
    for (size_t j = 0; j < w.size(); ++j) {
      if (!On(j)) continue;
      if (w[j] != 0) {
        (*pg)[j] = g[j] + l1_ * Sign(w[j]);
      } else if (g[j] + l1_ < 0) {
        (*pg)[j] = g[j] + l1_;
      } else if (g[j] - l1_ > 0) {
        (*pg)[j] = g[j] - l1_;
      } else {
        (*pg)[j] = 0;
      }
    }
  }

 private:
  double l1_;
  const std::vector<bool>& mask_;
};

double MaxAbs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// The last (s, y) pairs, oldest first: the inverse Hessian's approximation.
class CurvatureMemory {
 public:
  bool empty() const { return s_hist_.empty(); }
  size_t size() const { return s_hist_.size(); }
  void Clear() {
    s_hist_.clear();
    y_hist_.clear();
    rho_hist_.clear();
  }
  // Two-loop recursion: writes d = -H pg.
  void Direction(const std::vector<double>& pg, std::vector<double>* out) {
    const size_t n = pg.size();
    std::vector<double>& d = *out;
    for (size_t j = 0; j < n; ++j) d[j] = -pg[j];
    alpha_.assign(s_hist_.size(), 0);
    for (int k = static_cast<int>(s_hist_.size()) - 1; k >= 0; --k) {
      alpha_[k] = rho_hist_[k] * Dot(s_hist_[k], d);
      for (size_t j = 0; j < n; ++j) d[j] -= alpha_[k] * y_hist_[k][j];
    }
    if (!s_hist_.empty()) {
      const auto& y = y_hist_.back();
      double gamma = Dot(s_hist_.back(), y) / Dot(y, y);
      for (double& v : d) v *= gamma;
    }
    for (size_t k = 0; k < s_hist_.size(); ++k) {
      double beta = rho_hist_[k] * Dot(y_hist_[k], d);
      for (size_t j = 0; j < n; ++j) d[j] += s_hist_[k][j] * (alpha_[k] - beta);
    }
  }
  // Remembers the step w -> w_new if its curvature is positive (last `memory`).
  void Add(const std::vector<double>& w, const std::vector<double>& w_new,
           const std::vector<double>& g, const std::vector<double>& g_new,
           int memory) {
    const size_t n = w.size();
    std::vector<double> s(n), y(n);
    for (size_t j = 0; j < n; ++j) {
      s[j] = w_new[j] - w[j];
      y[j] = g_new[j] - g[j];
    }
    double sy = Dot(s, y);
    if (sy > 1e-12 * Dot(y, y) && sy > 0) {
      s_hist_.push_back(std::move(s));
      y_hist_.push_back(std::move(y));
      rho_hist_.push_back(1.0 / sy);
      if (static_cast<int>(s_hist_.size()) > memory) {
        s_hist_.pop_front();
        y_hist_.pop_front();
        rho_hist_.pop_front();
      }
    }
  }

 private:
  std::deque<std::vector<double>> s_hist_, y_hist_;
  std::deque<double> rho_hist_;
  std::vector<double> alpha_;  // Direction's scratch, kept between calls.
};

// Writes the descent direction (steepest when L-BFGS's is not); returns d.pg.
double SearchDirection(const L1Term& l1, const std::vector<double>& pg,
                       CurvatureMemory* memory, std::vector<double>* out) {
  const size_t n = pg.size();
  std::vector<double>& d = *out;
  memory->Direction(pg, &d);
  // OWL-QN: keep the direction in the orthant the pseudo-gradient points to.
  if (l1.active()) {
    for (size_t j = 0; j < n; ++j) {
      if (l1.On(j) && d[j] * pg[j] >= 0) d[j] = 0;
    }
  }
  double slope = Dot(d, pg);
  if (slope >= 0) {  // Not a descent direction: restart from steepest.
    memory->Clear();
    for (size_t j = 0; j < n; ++j) d[j] = -pg[j];
    slope = Dot(d, pg);
  }
  return slope;
}

// Backtracking (Armijo) line search along d; false when no step is accepted.
bool LineSearch(const Objective& f, const L1Term& l1,
                const std::vector<double>& w, const std::vector<double>& pg,
                const std::vector<double>& d, double value, double step,
                std::vector<double>* w_new_out, std::vector<double>* g_new,
                double* new_value_out) {
  const size_t n = w.size();
  std::vector<double>& w_new = *w_new_out;
  double& new_value = *new_value_out;
  for (int tries = 0; tries < 60; ++tries) {
    for (size_t j = 0; j < n; ++j) {
      w_new[j] = w[j] + step * d[j];
      if (l1.active() && l1.On(j)) {
        double orthant = w[j] != 0 ? Sign(w[j]) : Sign(-pg[j]);
        if (Sign(w_new[j]) != orthant) w_new[j] = 0;
      }
    }
    new_value = f(w_new, g_new) + l1.Value(w_new);
    double decrease = 0;
    for (size_t j = 0; j < n; ++j) decrease += pg[j] * (w_new[j] - w[j]);
    if (std::isfinite(new_value) && new_value <= value + 1e-4 * decrease) {
      return true;
    }
    step *= 0.5;
  }
  return false;
}

}  // namespace

absl::Status Minimize(const Objective& f, const LbfgsOptions& options,
                      int first_iteration, const IterationCallback& callback,
                      std::vector<double>* w, LbfgsResult* result) {
  const size_t n = w->size();
  L1Term l1(options);
  std::vector<double> g(n), pg(n), d(n), w_new(n), g_new(n);
  CurvatureMemory memory;

  double value = f(*w, &g) + l1.Value(*w);
  l1.PseudoGradient(*w, g, &pg);
  result->iterations = first_iteration;
  result->value = value;
  result->converged = MaxAbs(pg) <= options.gradient_tolerance;

  for (int iter = first_iteration;
       !result->converged && iter < options.max_iterations; ++iter) {
    const double slope = SearchDirection(l1, pg, &memory, &d);
    // The line search's first step is scaled.
    double step = memory.empty() ? std::min(1.0, 1.0 / std::sqrt(-slope)) : 1.0;
    double new_value = 0;
    if (!LineSearch(f, l1, *w, pg, d, value, step, &w_new, &g_new,
                    &new_value)) {
      result->converged = true;  // No progress possible at machine precision.
      break;
    }
    memory.Add(*w, w_new, g, g_new, options.memory);
    double previous = value;
    w->swap(w_new);
    g.swap(g_new);
    value = new_value;
    l1.PseudoGradient(*w, g, &pg);
    result->iterations = iter + 1;
    result->value = value;
    bool stalled = previous - value <=
                   options.relative_tolerance *
                       std::max({std::abs(previous), std::abs(value), 1.0});
    result->converged = MaxAbs(pg) <= options.gradient_tolerance;
    if (stalled && !result->converged) {
      // A stale curvature memory can stall the (projected) quasi-Newton
      // step: forget it and try steepest descent before giving up.
      if (memory.size() > 1) {
        memory.Clear();
      } else {
        result->converged = true;
      }
    }
    if (callback) {
      absl::Status st = callback(iter + 1, value, *w);
      if (!st.ok()) return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::ml
