#include "common/ml/drift.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace mlpipe::ml {
namespace {

double Total(const Weighted& x) {
  double t = 0;
  for (const auto& [v, w] : x) t += static_cast<double>(w);
  return t;
}

// Walks the distinct values of a and b in ascending order; at each calls
// f(value, next value or NaN at the end, CDF of a, CDF of b), the CDFs
// counting every value <= `value`.
template <typename F>
void WalkCdfs(const Weighted& a, const Weighted& b, F f) {
  const double na = Total(a), nb = Total(b);
  uint64_t ca = 0, cb = 0;
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    double v = std::min(i < a.size() ? a[i].first : INFINITY,
                        j < b.size() ? b[j].first : INFINITY);
    while (i < a.size() && a[i].first == v) ca += a[i++].second;
    while (j < b.size() && b[j].first == v) cb += b[j++].second;
    double next = std::min(i < a.size() ? a[i].first : INFINITY,
                           j < b.size() ? b[j].first : INFINITY);
    f(v, std::isinf(next) ? NAN : next, static_cast<double>(ca) / na,
      static_cast<double>(cb) / nb);
  }
}

// The value at fractional rank `pos` (0 .. total-1) with linear
// interpolation between neighbours, as numpy.quantile.
double ValueAtRank(const Weighted& x, double pos) {
  const double lo_rank = std::floor(pos);
  double lo = NAN, hi = NAN;
  double seen = 0;
  for (const auto& [v, w] : x) {
    double end = seen + static_cast<double>(w);  // Ranks [seen, end).
    if (std::isnan(lo) && lo_rank < end) lo = v;
    if (lo_rank + 1 < end) {
      hi = v;
      break;
    }
    seen = end;
  }
  if (std::isnan(lo)) lo = x.back().first;
  if (std::isnan(hi)) hi = x.back().first;
  // numpy's lerp: from the nearer end, so t = 1 lands exactly on hi.
  const double t = pos - lo_rank;
  return t >= 0.5 ? hi - (hi - lo) * (1 - t) : lo + (hi - lo) * t;
}

// x * ln(x / y) with scipy.special.rel_entr's conventions.
double RelEntr(double x, double y) {
  if (x > 0 && y > 0) return x * std::log(x / y);
  if (x == 0 && y >= 0) return 0;
  return INFINITY;
}

// Regularized upper incomplete gamma Q(a, x): 1 - the series of P(a, x)
// when x < a + 1, else Lentz's continued fraction for Q (no cancellation in
// the far tail).
double GammaQ(double a, double x) {
  if (x <= 0) return 1;
  const double log_prefix = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1) {
    double term = 1 / a, sum = term;
    for (int n = 1; n < 10000; ++n) {
      term *= x / (a + n);
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * 1e-17) break;
    }
    return 1 - sum * std::exp(log_prefix);
  }
  const double tiny = 1e-300;
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int n = 1; n < 10000; ++n) {
    double an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < 1e-16) break;
  }
  return std::exp(log_prefix) * h;
}

}  // namespace

double KsStatistic(const Weighted& a, const Weighted& b) {
  if (a.empty() || b.empty()) return NAN;
  double d = 0;
  WalkCdfs(a, b, [&](double, double, double fa, double fb) {
    d = std::max(d, std::fabs(fa - fb));
  });
  return d;
}

double KsPValue(double statistic, double n, double m) {
  if (!(n > 0 && m > 0) || std::isnan(statistic)) return NAN;
  const double z = std::sqrt(n * m / (n + m)) * statistic;
  if (z < 1e-3) return 1;
  // Q(z) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 z^2)
  double sum = 0;
  for (int k = 1; k < 1000; ++k) {
    double term = std::exp(-2.0 * k * k * z * z);
    sum += (k % 2 == 1 ? term : -term);
    if (term < 1e-18) break;
  }
  return std::clamp(2 * sum, 0.0, 1.0);
}

double Wasserstein(const Weighted& a, const Weighted& b) {
  if (a.empty() || b.empty()) return NAN;
  double w = 0;
  WalkCdfs(a, b, [&](double v, double next, double fa, double fb) {
    if (!std::isnan(next)) w += std::fabs(fa - fb) * (next - v);
  });
  return w;
}

std::vector<double> QuantileEdges(const Weighted& reference, int bins) {
  std::vector<double> edges;
  if (reference.empty() || bins < 2) return edges;
  const double last = Total(reference) - 1;
  for (int i = 1; i < bins; ++i) {
    double e = ValueAtRank(reference, (static_cast<double>(i) / bins) * last);
    if (edges.empty() || e != edges.back()) edges.push_back(e);
  }
  return edges;
}

std::vector<double> BinShares(const Weighted& x,
                              const std::vector<double>& edges) {
  std::vector<double> shares(edges.size() + 1, 0.0);
  const double total = Total(x);
  if (total == 0) return shares;
  for (const auto& [v, w] : x) {
    size_t bin =
        std::lower_bound(edges.begin(), edges.end(), v) - edges.begin();
    shares[bin] += static_cast<double>(w);
  }
  for (double& s : shares) s /= total;
  return shares;
}

double Psi(const std::vector<double>& p, const std::vector<double>& q,
           double floor) {
  double psi = 0;
  for (size_t i = 0; i < p.size() && i < q.size(); ++i) {
    double a = std::max(p[i], floor), b = std::max(q[i], floor);
    psi += (b - a) * std::log(b / a);
  }
  return psi;
}

double JensenShannon(const std::vector<double>& p,
                     const std::vector<double>& q) {
  double sp = 0, sq = 0;
  for (double v : p) sp += v;
  for (double v : q) sq += v;
  if (sp <= 0 || sq <= 0 || p.size() != q.size()) return NAN;
  double left = 0, right = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    double a = p[i] / sp, b = q[i] / sq, m = (a + b) / 2;
    left += RelEntr(a, m);
    right += RelEntr(b, m);
  }
  return std::sqrt((left + right) / 2);
}

ChiSquare Chi2Contingency(const std::vector<double>& reference,
                          const std::vector<double>& current) {
  std::vector<std::pair<double, double>> columns;
  double r0 = 0, r1 = 0;
  for (size_t i = 0; i < reference.size() && i < current.size(); ++i) {
    if (reference[i] == 0 && current[i] == 0) continue;
    columns.emplace_back(reference[i], current[i]);
    r0 += reference[i];
    r1 += current[i];
  }
  ChiSquare out;
  out.dof = static_cast<int>(columns.size()) - 1;
  if (out.dof <= 0 || r0 == 0 || r1 == 0) {
    out.dof = std::max(out.dof, 0);
    return out;  // Nothing to compare: statistic 0, p-value 1.
  }
  const double total = r0 + r1;
  for (const auto& [o0, o1] : columns) {
    const double col = o0 + o1;
    for (auto [observed, row] : {std::pair{o0, r0}, std::pair{o1, r1}}) {
      const double expected = row * col / total;
      double diff = expected - observed;
      if (out.dof == 1) {  // Yates: move each count up to 0.5 toward expected.
        const double magnitude = std::min(0.5, std::fabs(diff));
        observed += diff > 0 ? magnitude : (diff < 0 ? -magnitude : 0);
        diff = expected - observed;
      }
      out.statistic += diff * diff / expected;
    }
  }
  out.p_value = ChiSquareSurvival(out.statistic, out.dof);
  return out;
}

double ChiSquareSurvival(double x, int dof) {
  if (dof <= 0) return NAN;
  if (x <= 0) return 1;
  return GammaQ(dof / 2.0, x / 2);
}

}  // namespace mlpipe::ml
