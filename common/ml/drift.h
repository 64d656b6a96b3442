// Drift statistics between a reference and a current distribution, as
// scipy and numpy define them, computed from weighted sorted values (a
// features::QuantileSketch's Weighted(): exact while a stream is small, a
// KLL sketch past that) or from category counts.
//
// Error bounds when the inputs are sketches with normalized rank error e1,
// e2 (QuantileSketch::RankError, 99% confidence): every CDF value is off by
// at most e, so the KS statistic is off by at most e1 + e2 and the
// Wasserstein distance by at most (e1 + e2) * (max - min) of the values;
// a bin proportion is off by at most 2e, which bounds PSI and
// Jensen-Shannon through their (smooth, for proportions away from 0)
// formulas. With exact inputs all results equal scipy's to rounding.
#ifndef MLPIPE_COMMON_ML_DRIFT_H_
#define MLPIPE_COMMON_ML_DRIFT_H_

#include <cstdint>
#include <utility>
#include <vector>

namespace mlpipe::ml {

// Values sorted ascending, each with its weight (how many it stands for).
using Weighted = std::vector<std::pair<double, uint64_t>>;

// Two-sample Kolmogorov-Smirnov statistic: the largest difference of the
// two empirical CDFs (scipy.stats.ks_2samp(...).statistic).
double KsStatistic(const Weighted& a, const Weighted& b);
// Asymptotic p-value of a KS statistic for samples of n and m values
// (Kolmogorov distribution; scipy's method="asymp").
double KsPValue(double statistic, double n, double m);

// First Wasserstein (earth mover's) distance between the two empirical
// distributions (scipy.stats.wasserstein_distance).
double Wasserstein(const Weighted& a, const Weighted& b);

// Bin edges at the reference's quantiles 1/bins, ..., (bins-1)/bins
// (distinct, interior only): bins are (-inf, e0], (e0, e1], ..., (ek, inf).
std::vector<double> QuantileEdges(const Weighted& reference, int bins);
// Share of the weight in each bin of `edges` (as numpy.digitize(x, edges,
// right=True) counts them).
std::vector<double> BinShares(const Weighted& x,
                              const std::vector<double>& edges);

// Population stability index: sum over bins of (q - p) * ln(q / p), with
// shares below `floor` raised to it (empty bins would make it infinite).
double Psi(const std::vector<double>& p, const std::vector<double>& q,
           double floor = 1e-4);

// Jensen-Shannon distance (the square root of the divergence, natural log;
// scipy.spatial.distance.jensenshannon): p and q are normalized first.
double JensenShannon(const std::vector<double>& p,
                     const std::vector<double>& q);

// Pearson's chi-squared test of independence on the 2 x K table of counts
// (reference row, current row), as scipy.stats.chi2_contingency: Yates'
// continuity correction when there is one degree of freedom; categories
// with no count in either row are left out.
struct ChiSquare {
  double statistic = 0;
  int dof = 0;
  double p_value = 1;
};
ChiSquare Chi2Contingency(const std::vector<double>& reference,
                          const std::vector<double>& current);
// P(X > x) for X chi-squared with `dof` degrees of freedom.
double ChiSquareSurvival(double x, int dof);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_DRIFT_H_
