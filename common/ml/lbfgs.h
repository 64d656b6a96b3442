// Limited-memory BFGS for smooth convex objectives, with the orthant-wise
// extension (OWL-QN, Andrew & Gao 2007) for an added L1 term. Used by the
// linear models. Thread-compatible.
#ifndef MLPIPE_COMMON_ML_LBFGS_H_
#define MLPIPE_COMMON_ML_LBFGS_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"

namespace mlpipe::ml {

struct LbfgsOptions {
  int max_iterations = 1000;
  // Stops when the largest entry of the (pseudo-)gradient is below this.
  double gradient_tolerance = 1e-6;
  // Or when an iteration lowers the objective by less than this, relative.
  double relative_tolerance = 1e-12;
  int memory = 10;  // (s, y) pairs kept.
  // Adds l1 * sum |w_j| over the entries with l1_mask[j] (empty: all).
  double l1 = 0;
  std::vector<bool> l1_mask;
};

struct LbfgsResult {
  int iterations = 0;  // Counted from the start (resumed runs included).
  double value = 0;    // Objective, L1 term included.
  bool converged = false;
};

// The smooth part: returns f(w) and writes its gradient.
using Objective =
    std::function<double(const std::vector<double>& w, std::vector<double>* g)>;
// After each iteration: (iteration, objective, w). A non-OK status stops the
// minimization and is returned.
using IterationCallback =
    std::function<absl::Status(int, double, const std::vector<double>&)>;

// Minimizes from *w (start point; the minimizer on return), counting
// iterations from `first_iteration` (a resumed run). Returns the callback's
// error if it stopped.
absl::Status Minimize(const Objective& f, const LbfgsOptions& options,
                      int first_iteration, const IterationCallback& callback,
                      std::vector<double>* w, LbfgsResult* result);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_LBFGS_H_
