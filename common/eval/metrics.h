// Evaluation metrics of a model's predictions on labelled rows: what the
// evaluation service reports and what monitoring computes from actuals.
// gRPC-free. Definitions are scikit-learn's (1.2), so values agree with it:
//   auc            roc_auc_score (ties count one half)
//   pr_auc         average_precision_score (no interpolation)
//   logloss        log_loss (probabilities clipped to [eps, 1 - eps], eps the
//                  double epsilon, rows renormalized)
//   brier          brier_score_loss
//   accuracy, precision, recall, f1
//                  at "positive iff score >= threshold"; 0 where undefined
//                  (zero_division=0)
//   macro_f1, micro_f1, macro_precision, macro_recall
//                  over the classes present in the labels or the predictions
//                  (predicted class: the first largest probability)
//   rmse, mae, r2 (1 / 0 for constant labels, as force_finite), mape
//                  (|y - p| / max(|y|, eps))
//   inertia, silhouette  KMeans.inertia_, silhouette_score (Euclidean; on a
//                  seeded sample of Options.silhouette_sample rows when there
//                  are more, as silhouette_score(sample_size=...))
// Curves: roc_curve(drop_intermediate=False) and precision_recall_curve,
// thinned evenly to Options.curve_points; calibration_curve(strategy=
// "uniform"). Residual quantiles: numpy.percentile (linear).
//
// The confidence interval of the headline metric is a percentile bootstrap:
// `resamples` resamples of the rows with replacement (seeded, so repeatable),
// the metric on each, the (1 - level) / 2 and (1 + level) / 2 quantiles.
#ifndef MLPIPE_COMMON_EVAL_METRICS_H_
#define MLPIPE_COMMON_EVAL_METRICS_H_

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/ml/data.h"
#include "mlpipe/v1/evaluation.pb.h"

namespace mlpipe::eval {

struct Options {
  double threshold = 0.5;        // Binary: the fixed threshold.
  std::string criterion = "f1";  // Binary: f1, youden or accuracy.
  int calibration_bins = 10;
  int curve_points = 200;
  int resamples = 200;  // Bootstrap resamples; 0: no interval.
  double level = 0.95;
  uint64_t seed = 1;
  std::string headline;  // Default: auc / accuracy / rmse / inertia.
  size_t silhouette_sample = 4000;
  int threads = 1;  // Bootstrap resamples in parallel.
  // Called after each bootstrap resample, from the resampling threads.
  std::function<void()> on_resample;
};

// A model's predictions for labelled rows.
struct Predictions {
  v1::Task task = v1::TASK_UNSPECIFIED;
  // Classification: the class index (BINARY: 1 positive). Regression: the
  // value. Clustering: unused.
  std::vector<double> y;
  // rows() * width values: BINARY P(positive); MULTICLASS the class
  // probabilities; REGRESSION the value; CLUSTERING the cluster index.
  std::vector<double> scores;
  int width = 1;
  // Classification: class names by index (BINARY: [negative, positive]).
  std::vector<std::string> classes;
  // Clustering only: the rows' features and the centroids (k x cols).
  ml::MatrixView x;
  std::vector<double> centroids;

  size_t rows() const { return width > 0 ? scores.size() / width : 0; }
};

// Checks shapes and values (labels in range, probabilities in [0, 1],
// finite): INVALID_ARGUMENT naming what is wrong.
absl::Status Check(const Predictions& p);

// The scalar metrics of a task, headline first: binary auc, multiclass
// logloss, regression rmse, clustering inertia.
const std::vector<std::string>& MetricsFor(v1::Task task);
std::string HeadlineMetric(v1::Task task);
bool HigherIsBetter(const std::string& metric);

// Everything: scalar metrics, curves, confusion, calibration, interval.
absl::StatusOr<v1::EvaluationMetrics> Evaluate(const Predictions& p,
                                               const Options& options);

// The scalar metrics only, of the rows `rows` (all when null); with
// `weights` (one per row, e.g. bootstrap counts) each row counts that often.
std::vector<v1::MetricValue> Scalars(const Predictions& p,
                                     const Options& options,
                                     const std::vector<uint32_t>* rows,
                                     const std::vector<double>* weights);

// Value of `name` in `metrics` (a vector or repeated field); NaN when absent.
template <typename Repeated>
double Find(const Repeated& metrics, const std::string& name) {
  for (const auto& m : metrics) {
    if (m.name() == name) return m.value();
  }
  return NAN;
}

}  // namespace mlpipe::eval

#endif  // MLPIPE_COMMON_EVAL_METRICS_H_
