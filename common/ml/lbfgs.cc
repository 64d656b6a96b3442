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

}  // namespace

absl::Status Minimize(const Objective& f, const LbfgsOptions& options,
                      int first_iteration, const IterationCallback& callback,
                      std::vector<double>* w, LbfgsResult* result) {
  const size_t n = w->size();
  L1Term l1(options);
  std::vector<double> g(n), pg(n), d(n), w_new(n), g_new(n), alpha;
  std::deque<std::vector<double>> s_hist, y_hist;
  std::deque<double> rho_hist;

  double value = f(*w, &g) + l1.Value(*w);
  l1.PseudoGradient(*w, g, &pg);
  result->iterations = first_iteration;
  result->value = value;
  result->converged = MaxAbs(pg) <= options.gradient_tolerance;

  for (int iter = first_iteration;
       !result->converged && iter < options.max_iterations; ++iter) {
    // Two-loop recursion: d = -H pg.
    for (size_t j = 0; j < n; ++j) d[j] = -pg[j];
    alpha.assign(s_hist.size(), 0);
    for (int k = static_cast<int>(s_hist.size()) - 1; k >= 0; --k) {
      alpha[k] = rho_hist[k] * Dot(s_hist[k], d);
      for (size_t j = 0; j < n; ++j) d[j] -= alpha[k] * y_hist[k][j];
    }
    if (!s_hist.empty()) {
      const auto& y = y_hist.back();
      double gamma = Dot(s_hist.back(), y) / Dot(y, y);
      for (double& v : d) v *= gamma;
    }
    for (size_t k = 0; k < s_hist.size(); ++k) {
      double beta = rho_hist[k] * Dot(y_hist[k], d);
      for (size_t j = 0; j < n; ++j) d[j] += s_hist[k][j] * (alpha[k] - beta);
    }
    // OWL-QN: keep the direction in the orthant the pseudo-gradient points to.
    if (l1.active()) {
      for (size_t j = 0; j < n; ++j) {
        if (l1.On(j) && d[j] * pg[j] >= 0) d[j] = 0;
      }
    }
    double slope = Dot(d, pg);
    if (slope >= 0) {  // Not a descent direction: restart from steepest.
      s_hist.clear();
      y_hist.clear();
      rho_hist.clear();
      for (size_t j = 0; j < n; ++j) d[j] = -pg[j];
      slope = Dot(d, pg);
    }
    // Backtracking (Armijo) line search; the first step is scaled.
    double step = s_hist.empty() ? std::min(1.0, 1.0 / std::sqrt(-slope)) : 1.0;
    double new_value = 0;
    bool found = false;
    for (int tries = 0; tries < 60; ++tries) {
      for (size_t j = 0; j < n; ++j) {
        w_new[j] = (*w)[j] + step * d[j];
        if (l1.active() && l1.On(j)) {
          double orthant = (*w)[j] != 0 ? Sign((*w)[j]) : Sign(-pg[j]);
          if (Sign(w_new[j]) != orthant) w_new[j] = 0;
        }
      }
      new_value = f(w_new, &g_new) + l1.Value(w_new);
      double decrease = 0;
      for (size_t j = 0; j < n; ++j) decrease += pg[j] * (w_new[j] - (*w)[j]);
      if (std::isfinite(new_value) && new_value <= value + 1e-4 * decrease) {
        found = true;
        break;
      }
      step *= 0.5;
    }
    if (!found) {  // No progress possible at machine precision.
      result->converged = true;
      break;
    }
    std::vector<double> s(n), y(n);
    for (size_t j = 0; j < n; ++j) {
      s[j] = w_new[j] - (*w)[j];
      y[j] = g_new[j] - g[j];
    }
    double sy = Dot(s, y);
    if (sy > 1e-12 * Dot(y, y) && sy > 0) {
      s_hist.push_back(std::move(s));
      y_hist.push_back(std::move(y));
      rho_hist.push_back(1.0 / sy);
      if (static_cast<int>(s_hist.size()) > options.memory) {
        s_hist.pop_front();
        y_hist.pop_front();
        rho_hist.pop_front();
      }
    }
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
      if (s_hist.size() > 1) {
        s_hist.clear();
        y_hist.clear();
        rho_hist.clear();
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
