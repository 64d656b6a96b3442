#include "common/eval/metrics.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>
#include <thread>

#include "common/util/strings.h"

namespace mlpipe::eval {
namespace {

constexpr double kEps = std::numeric_limits<double>::epsilon();

v1::MetricValue Metric(const std::string& name, double value) {
  v1::MetricValue m;
  m.set_name(name);
  m.set_value(value);
  return m;
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0.0; }
double F1(double precision, double recall) {
  return precision + recall > 0 ? 2 * precision * recall / (precision + recall)
                                : 0.0;
}

// The rows to use: `rows`, or all of them.
std::vector<uint32_t> RowsOf(const Predictions& p,
                             const std::vector<uint32_t>* rows) {
  if (rows != nullptr) return *rows;
  std::vector<uint32_t> all(p.rows());
  std::iota(all.begin(), all.end(), 0u);
  return all;
}

// ---------------------------------------------------------------- binary

// Rows by decreasing score, and the cumulative weighted counts at the end of
// each group of equal scores (one point per distinct threshold).
struct BinaryCurve {
  std::vector<double> thresholds, tp, fp;
  double positives = 0, negatives = 0;
};

std::vector<uint32_t> ByScore(const Predictions& p,
                              std::vector<uint32_t> rows) {
  std::sort(rows.begin(), rows.end(),
            [&p](uint32_t a, uint32_t b) { return p.scores[a] > p.scores[b]; });
  return rows;
}

BinaryCurve Curve(const Predictions& p, const std::vector<uint32_t>& order,
                  const std::vector<double>* weights) {
  BinaryCurve c;
  double tp = 0, fp = 0;
  for (size_t k = 0; k < order.size();) {
    const double s = p.scores[order[k]];
    bool any = false;
    for (; k < order.size() && p.scores[order[k]] == s; ++k) {
      const uint32_t i = order[k];
      const double w = weights != nullptr ? (*weights)[i] : 1.0;
      if (w == 0) continue;
      any = true;
      (p.y[i] == 1 ? tp : fp) += w;
    }
    if (!any) continue;
    c.thresholds.push_back(s);
    c.tp.push_back(tp);
    c.fp.push_back(fp);
  }
  c.positives = tp;
  c.negatives = fp;
  return c;
}

double Auc(const BinaryCurve& c) {
  if (c.positives == 0 || c.negatives == 0) return NAN;
  double area = 0, tp0 = 0, fp0 = 0;
  for (size_t g = 0; g < c.tp.size(); ++g) {
    area += (c.fp[g] - fp0) * (c.tp[g] + tp0) / 2;
    tp0 = c.tp[g];
    fp0 = c.fp[g];
  }
  return area / (c.positives * c.negatives);
}

double AveragePrecision(const BinaryCurve& c) {
  if (c.positives == 0) return NAN;
  double ap = 0, tp0 = 0;
  for (size_t g = 0; g < c.tp.size(); ++g) {
    ap += (c.tp[g] - tp0) / c.positives * (c.tp[g] / (c.tp[g] + c.fp[g]));
    tp0 = c.tp[g];
  }
  return ap;
}

// Metrics at "positive iff score >= threshold".
v1::ThresholdMetrics AtThreshold(const BinaryCurve& c, double threshold,
                                 const std::string& criterion,
                                 const std::vector<std::string>& classes) {
  // Rows at or above the threshold: the last group whose score >= it.
  double tp = 0, fp = 0;
  for (size_t g = 0; g < c.thresholds.size() && c.thresholds[g] >= threshold;
       ++g) {
    tp = c.tp[g];
    fp = c.fp[g];
  }
  const double fn = c.positives - tp, tn = c.negatives - fp;
  v1::ThresholdMetrics m;
  m.set_threshold(threshold);
  m.set_criterion(criterion);
  m.set_accuracy(Ratio(tp + tn, c.positives + c.negatives));
  m.set_precision(Ratio(tp, tp + fp));
  m.set_recall(Ratio(tp, c.positives));
  m.set_f1(F1(m.precision(), m.recall()));
  auto* cm = m.mutable_confusion();
  for (const auto& label : classes) cm->add_labels(label);
  for (double v : {tn, fp, fn, tp}) cm->add_counts(static_cast<int64_t>(v));
  return m;
}

// The threshold (a distinct score) that maximizes the criterion; the
// highest such threshold on ties.
v1::ThresholdMetrics Choose(const BinaryCurve& c, const std::string& criterion,
                            const std::vector<std::string>& classes) {
  double best = -INFINITY, best_threshold = 0.5;
  const double n = c.positives + c.negatives;
  for (size_t g = 0; g < c.thresholds.size(); ++g) {
    const double tp = c.tp[g], fp = c.fp[g];
    double v;
    if (criterion == "youden") {
      v = Ratio(tp, c.positives) - Ratio(fp, c.negatives);
    } else if (criterion == "accuracy") {
      v = Ratio(tp + (c.negatives - fp), n);
    } else {
      v = F1(Ratio(tp, tp + fp), Ratio(tp, c.positives));
    }
    if (v > best) {
      best = v;
      best_threshold = c.thresholds[g];
    }
  }
  return AtThreshold(c, best_threshold, criterion, classes);
}

// Row i's log loss (as scikit-learn: clipped, renormalized).
double RowLogLoss(const Predictions& p, size_t i) {
  const double q = std::clamp(p.scores[i], kEps, 1 - kEps);
  const double sum = q + (1 - q);
  return -std::log((p.y[i] == 1 ? q : 1 - q) / sum);
}

// `row_logloss`: RowLogLoss of every row, when already known (the
// bootstrap computes them once).
std::vector<v1::MetricValue> BinaryScalars(
    const Predictions& p, const std::vector<uint32_t>& order,
    const std::vector<double>* weights, const Options& o,
    const std::vector<double>* row_logloss = nullptr) {
  BinaryCurve c = Curve(p, order, weights);
  double total = 0, logloss = 0, brier = 0;
  for (uint32_t i : order) {
    const double w = weights != nullptr ? (*weights)[i] : 1.0;
    if (w == 0) continue;
    total += w;
    logloss +=
        w * (row_logloss != nullptr ? (*row_logloss)[i] : RowLogLoss(p, i));
    brier += w * (p.y[i] - p.scores[i]) * (p.y[i] - p.scores[i]);
  }
  v1::ThresholdMetrics t = AtThreshold(c, o.threshold, "fixed", {});
  return {Metric("auc", Auc(c)),
          Metric("pr_auc", AveragePrecision(c)),
          Metric("logloss", total > 0 ? logloss / total : NAN),
          Metric("brier", total > 0 ? brier / total : NAN),
          Metric("accuracy", t.accuracy()),
          Metric("precision", t.precision()),
          Metric("recall", t.recall()),
          Metric("f1", t.f1())};
}

// Thins a curve's points evenly to at most `max` (always keeping the ends).
void Thin(v1::Curve* c, int max) {
  const int n = c->x_size();
  if (max < 2 || n <= max) return;
  v1::Curve out;
  for (int k = 0; k < max; ++k) {
    int i = static_cast<int>(
        std::llround(static_cast<double>(k) * (n - 1) / (max - 1)));
    out.add_x(c->x(i));
    out.add_y(c->y(i));
    out.add_thresholds(c->thresholds(i));
  }
  *c = std::move(out);
}

void BinaryDetails(const Predictions& p, const std::vector<uint32_t>& order,
                   const Options& o, v1::EvaluationMetrics* out) {
  BinaryCurve c = Curve(p, order, nullptr);
  *out->mutable_at_threshold() =
      AtThreshold(c, o.threshold, "fixed", p.classes);
  *out->mutable_chosen() = Choose(c, o.criterion, p.classes);
  // ROC as roc_curve(drop_intermediate=False): (0, 0) first, at a threshold
  // above every score (scikit-learn 1.2: the highest score + 1).
  auto* roc = out->mutable_roc();
  if (!c.thresholds.empty()) {
    roc->add_x(0);
    roc->add_y(0);
    roc->add_thresholds(c.thresholds.front() + 1);
  }
  for (size_t g = 0; g < c.thresholds.size(); ++g) {
    roc->add_x(c.negatives > 0 ? c.fp[g] / c.negatives : NAN);
    roc->add_y(c.positives > 0 ? c.tp[g] / c.positives : NAN);
    roc->add_thresholds(c.thresholds[g]);
  }
  Thin(roc, o.curve_points);
  // Precision-recall as precision_recall_curve: one point per threshold
  // from the lowest (recall falling), then (recall 0, precision 1).
  auto* pr = out->mutable_pr();
  if (c.positives > 0) {
    for (size_t g = c.tp.size(); g-- > 0;) {
      pr->add_x(c.tp[g] / c.positives);
      pr->add_y(Ratio(c.tp[g], c.tp[g] + c.fp[g]));
      pr->add_thresholds(c.thresholds[g]);
    }
    pr->add_x(0);
    pr->add_y(1);
    pr->add_thresholds(NAN);  // The end point has no threshold.
    Thin(pr, o.curve_points);
  }
  // Reliability: uniform bins as calibration_curve (bin i holds scores in
  // (edge_i, edge_i+1], the first also 0).
  const int bins = std::max(1, o.calibration_bins);
  std::vector<double> sum_p(bins), sum_y(bins);
  std::vector<int64_t> count(bins);
  std::vector<double> edges(bins + 1);
  for (int b = 0; b <= bins; ++b) edges[b] = b * (1.0 / bins);
  edges[bins] = 1.0;
  for (uint32_t i : order) {
    const double s = p.scores[i];
    // searchsorted(edges[1:-1], s, side="left")
    int b = static_cast<int>(
        std::lower_bound(edges.begin() + 1, edges.end() - 1, s) -
        (edges.begin() + 1));
    sum_p[b] += s;
    sum_y[b] += p.y[i];
    ++count[b];
  }
  for (int b = 0; b < bins; ++b) {
    if (count[b] == 0) continue;
    auto* bin = out->add_calibration();
    bin->set_lower(edges[b]);
    bin->set_upper(edges[b + 1]);
    bin->set_mean_predicted(sum_p[b] / count[b]);
    bin->set_fraction_positive(sum_y[b] / count[b]);
    bin->set_rows(count[b]);
  }
}

// ------------------------------------------------------------ multiclass

int ArgMax(const double* row, int width) {
  return static_cast<int>(std::max_element(row, row + width) - row);
}

std::vector<v1::MetricValue> MulticlassScalars(
    const Predictions& p, const std::vector<uint32_t>& rows,
    const std::vector<double>* weights, std::vector<v1::ClassMetrics>* classes,
    v1::ConfusionMatrix* confusion) {
  const int k = p.width;
  std::vector<double> tp(k), predicted(k), actual(k), cm(k * k);
  double total = 0, logloss = 0, correct = 0;
  for (uint32_t i : rows) {
    const double w = weights != nullptr ? (*weights)[i] : 1.0;
    if (w == 0) continue;
    const double* row = p.scores.data() + static_cast<size_t>(i) * k;
    const int label = static_cast<int>(p.y[i]);
    const int guess = ArgMax(row, k);
    total += w;
    double sum = 0;
    for (int c = 0; c < k; ++c) sum += std::clamp(row[c], kEps, 1 - kEps);
    logloss -= w * std::log(std::clamp(row[label], kEps, 1 - kEps) / sum);
    correct += w * (guess == label);
    tp[label] += w * (guess == label);
    predicted[guess] += w;
    actual[label] += w;
    cm[label * k + guess] += w;
  }
  double macro_p = 0, macro_r = 0, macro_f1 = 0;
  int present = 0;
  for (int c = 0; c < k; ++c) {
    const double precision = Ratio(tp[c], predicted[c]);
    const double recall = Ratio(tp[c], actual[c]);
    if (classes != nullptr) {
      v1::ClassMetrics m;
      m.set_label(c < static_cast<int>(p.classes.size()) ? p.classes[c]
                                                         : std::to_string(c));
      m.set_precision(precision);
      m.set_recall(recall);
      m.set_f1(F1(precision, recall));
      m.set_support(static_cast<int64_t>(actual[c]));
      classes->push_back(m);
    }
    if (predicted[c] == 0 && actual[c] == 0) continue;  // Absent class.
    ++present;
    macro_p += precision;
    macro_r += recall;
    macro_f1 += F1(precision, recall);
  }
  if (confusion != nullptr) {
    for (int c = 0; c < k; ++c) {
      confusion->add_labels(c < static_cast<int>(p.classes.size())
                                ? p.classes[c]
                                : std::to_string(c));
    }
    for (double v : cm) confusion->add_counts(static_cast<int64_t>(v));
  }
  const double micro = Ratio(correct, total);
  return {Metric("logloss", total > 0 ? logloss / total : NAN),
          Metric("accuracy", micro),
          Metric("macro_f1", present > 0 ? macro_f1 / present : NAN),
          Metric("micro_f1", micro),
          Metric("macro_precision", present > 0 ? macro_p / present : NAN),
          Metric("macro_recall", present > 0 ? macro_r / present : NAN)};
}

// ------------------------------------------------------------ regression

std::vector<v1::MetricValue> RegressionScalars(
    const Predictions& p, const std::vector<uint32_t>& rows,
    const std::vector<double>* weights) {
  double total = 0, mean = 0;
  for (uint32_t i : rows) {
    const double w = weights != nullptr ? (*weights)[i] : 1.0;
    total += w;
    mean += w * p.y[i];
  }
  if (total == 0) {
    return {Metric("rmse", NAN), Metric("mae", NAN), Metric("r2", NAN),
            Metric("mape", NAN)};
  }
  mean /= total;
  double se = 0, ae = 0, ss = 0, ape = 0;
  for (uint32_t i : rows) {
    const double w = weights != nullptr ? (*weights)[i] : 1.0;
    const double r = p.y[i] - p.scores[i];
    se += w * r * r;
    ae += w * std::abs(r);
    ss += w * (p.y[i] - mean) * (p.y[i] - mean);
    ape += w * std::abs(r) / std::max(std::abs(p.y[i]), kEps);
  }
  const double r2 = ss > 0 ? 1 - se / ss : (se == 0 ? 1.0 : 0.0);
  return {Metric("rmse", std::sqrt(se / total)), Metric("mae", ae / total),
          Metric("r2", r2), Metric("mape", ape / total)};
}

// numpy.percentile(values, 100 q), linear; values sorted.
double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return NAN;
  const double h = (sorted.size() - 1) * q;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

// The quantiles of the residuals y - score.
void ResidualQuantiles(const Predictions& p, v1::EvaluationMetrics* out) {
  std::vector<double> residuals(p.rows());
  for (size_t i = 0; i < residuals.size(); ++i)
    residuals[i] = p.y[i] - p.scores[i];
  std::sort(residuals.begin(), residuals.end());
  for (double q : {0.05, 0.25, 0.5, 0.75, 0.95}) {
    auto* r = out->add_residual_quantiles();
    r->set_q(q);
    r->set_value(Percentile(residuals, q));
  }
}

// ------------------------------------------------------------ clustering

double SquaredDistance(const double* a, const double* b, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j) s += (a[j] - b[j]) * (a[j] - b[j]);
  return s;
}

double Inertia(const Predictions& p, const std::vector<uint32_t>& rows,
               const std::vector<double>* weights) {
  const size_t d = p.x.cols;
  double inertia = 0;
  for (uint32_t i : rows) {
    const double w = weights != nullptr ? (*weights)[i] : 1.0;
    const size_t c = static_cast<size_t>(p.scores[i]);
    inertia += w * SquaredDistance(p.x.Row(i), p.centroids.data() + c * d, d);
  }
  return inertia;
}

// Mean silhouette of `rows` (silhouette_score); NaN unless 2 <= clusters
// <= rows - 1.
double Silhouette(const Predictions& p, std::vector<uint32_t> rows,
                  const Options& o) {
  if (rows.size() > o.silhouette_sample) {
    std::mt19937_64 rng(o.seed);
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(o.silhouette_sample);
  }
  const size_t n = rows.size(), d = p.x.cols;
  const int k = static_cast<int>(p.centroids.size() / std::max<size_t>(d, 1));
  std::vector<int> label(n), size(k);
  for (size_t a = 0; a < n; ++a) {
    label[a] = static_cast<int>(p.scores[rows[a]]);
    ++size[label[a]];
  }
  int used = 0;
  for (int s : size) used += s > 0;
  if (used < 2 || used > static_cast<int>(n) - 1) return NAN;
  double total = 0;
  std::vector<double> sum(k);
  for (size_t a = 0; a < n; ++a) {
    std::fill(sum.begin(), sum.end(), 0.0);
    const double* xa = p.x.Row(rows[a]);
    for (size_t b = 0; b < n; ++b) {
      if (b == a) continue;
      sum[label[b]] += std::sqrt(SquaredDistance(xa, p.x.Row(rows[b]), d));
    }
    const int own = label[a];
    if (size[own] <= 1) continue;  // Its silhouette is 0.
    const double in = sum[own] / (size[own] - 1);
    double out = INFINITY;
    for (int c = 0; c < k; ++c) {
      if (c != own && size[c] > 0) out = std::min(out, sum[c] / size[c]);
    }
    const double m = std::max(in, out);
    total += m > 0 ? (out - in) / m : 0;
  }
  return total / n;
}

// ------------------------------------------------------------ evaluation

// The task's scalars; details go to `out`, binary's rows by score to `order`.
std::vector<v1::MetricValue> TaskMetrics(const Predictions& p, const Options& o,
                                         const std::vector<uint32_t>& all,
                                         std::vector<uint32_t>* order,
                                         v1::EvaluationMetrics* out) {
  std::vector<v1::MetricValue> scalars;
  switch (p.task) {
    case v1::BINARY:
      *order = ByScore(p, all);
      scalars = BinaryScalars(p, *order, nullptr, o);
      BinaryDetails(p, *order, o, out);
      break;
    case v1::MULTICLASS: {
      std::vector<v1::ClassMetrics> classes;
      scalars = MulticlassScalars(p, all, nullptr, &classes,
                                  out->mutable_confusion());
      for (auto& c : classes) *out->add_classes() = std::move(c);
      break;
    }
    case v1::REGRESSION:
      scalars = RegressionScalars(p, all, nullptr);
      ResidualQuantiles(p, out);
      break;
    default:
      scalars = Scalars(p, o, &all, nullptr);
      break;
  }
  return scalars;
}

// The headline metric of each bootstrap resample (NaN where it is undefined).
std::vector<double> ResampledHeadline(const Predictions& p, const Options& o,
                                      const std::string& headline,
                                      const std::vector<uint32_t>& all,
                                      const std::vector<uint32_t>& order) {
  // The bootstrap: row multiplicities drawn per resample. Binary rows are
  // put in score order once, so a resample is one sequential pass.
  const size_t n = p.rows();
  Predictions sorted;
  std::vector<double> row_logloss;
  const Predictions* rows = &p;
  const std::vector<uint32_t>* by_score = &all;
  if (p.task == v1::BINARY) {
    sorted.task = p.task;
    sorted.y.reserve(n);
    sorted.scores.reserve(n);
    for (uint32_t i : order) {
      sorted.y.push_back(p.y[i]);
      sorted.scores.push_back(p.scores[i]);
    }
    rows = &sorted;
    row_logloss.resize(n);
    for (size_t i = 0; i < n; ++i) row_logloss[i] = RowLogLoss(sorted, i);
  }
  // Resample b draws from its own generator (seed, b): the interval is
  // the same whatever the number of threads.
  std::vector<double> per_resample(o.resamples, NAN);
  auto run = [&](int first, int step) {
    std::vector<double> weights(n);
    for (int b = first; b < o.resamples; b += step) {
      std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + b);
      std::fill(weights.begin(), weights.end(), 0.0);
      for (size_t k = 0; k < n; ++k) {
        // A uniform index in [0, n) (Lemire's multiply-shift).
        weights[static_cast<size_t>(
            (static_cast<unsigned __int128>(rng()) * n) >> 64)] += 1;
      }
      std::vector<v1::MetricValue> m =
          p.task == v1::BINARY
              ? BinaryScalars(*rows, *by_score, &weights, o, &row_logloss)
              : Scalars(p, o, &all, &weights);
      per_resample[b] = Find(m, headline);
      if (o.on_resample) o.on_resample();
    }
  };
  const int threads = std::clamp(o.threads, 1, std::max(o.resamples, 1));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(run, t, threads);
  run(0, threads);
  for (auto& t : pool) t.join();
  return per_resample;
}

// Writes the headline metric's bootstrap confidence interval.
void BootstrapInterval(const Predictions& p, const Options& o,
                       const std::string& headline,
                       const std::vector<uint32_t>& all,
                       const std::vector<uint32_t>& order,
                       v1::EvaluationMetrics* out) {
  const std::vector<double> per_resample =
      ResampledHeadline(p, o, headline, all, order);
  std::vector<double> values;
  for (double v : per_resample) {
    if (!std::isnan(v)) values.push_back(v);
  }
  std::sort(values.begin(), values.end());
  auto* ci = out->mutable_interval();
  ci->set_metric(headline);
  ci->set_level(o.level);
  ci->set_resamples(o.resamples);
  ci->set_seed(o.seed);
  ci->set_low(Percentile(values, (1 - o.level) / 2));
  ci->set_high(Percentile(values, (1 + o.level) / 2));
}

}  // namespace

const std::vector<std::string>& MetricsFor(v1::Task task) {
  static const std::vector<std::string> binary = {
      "auc",      "pr_auc",    "logloss", "brier",
      "accuracy", "precision", "recall",  "f1"};
  static const std::vector<std::string> multi = {
      "logloss",  "accuracy",        "macro_f1",
      "micro_f1", "macro_precision", "macro_recall"};
  static const std::vector<std::string> regression = {"rmse", "mae", "r2",
                                                      "mape"};
  static const std::vector<std::string> clustering = {"inertia", "silhouette"};
  static const std::vector<std::string> none;
  switch (task) {
    case v1::BINARY:
      return binary;
    case v1::MULTICLASS:
      return multi;
    case v1::REGRESSION:
      return regression;
    case v1::CLUSTERING:
      return clustering;
    default:
      return none;
  }
}

std::string HeadlineMetric(v1::Task task) {
  const auto& m = MetricsFor(task);
  return m.empty() ? "" : m.front();
}

bool HigherIsBetter(const std::string& m) {
  return m == "auc" || m == "pr_auc" || m == "accuracy" || m == "precision" ||
         m == "recall" || m == "f1" || m == "macro_f1" || m == "micro_f1" ||
         m == "macro_precision" || m == "macro_recall" || m == "r2" ||
         m == "silhouette";
}

absl::Status Check(const Predictions& p) {
  const size_t n = p.rows();
  if (p.width < 1 || p.scores.size() != n * p.width) {
    return absl::InvalidArgumentError(StrCat(
        "scores: ", p.scores.size(), " values are not rows x width ", p.width));
  }
  if (n == 0) return absl::InvalidArgumentError("rows: none to evaluate");
  for (size_t i = 0; i < p.scores.size(); ++i) {
    if (!std::isfinite(p.scores[i])) {
      return absl::InvalidArgumentError(
          StrCat("scores: row ", i / p.width, " has a non-finite value"));
    }
  }
  const bool classify = p.task == v1::BINARY || p.task == v1::MULTICLASS;
  if (p.task != v1::CLUSTERING && p.y.size() != n) {
    return absl::InvalidArgumentError(
        StrCat("labels: ", p.y.size(), " for ", n, " rows"));
  }
  const int classes = p.task == v1::BINARY ? 2 : p.width;
  if (p.task == v1::BINARY && p.width != 1) {
    return absl::InvalidArgumentError("scores: binary needs one per row");
  }
  for (size_t i = 0; i < p.y.size(); ++i) {
    const double y = p.y[i];
    if (!std::isfinite(y) ||
        (classify && (y != std::floor(y) || y < 0 || y >= classes))) {
      return absl::InvalidArgumentError(StrCat("labels: row ", i, " has ", y,
                                               ", not a class index below ",
                                               classes));
    }
  }
  if (classify) {
    for (size_t i = 0; i < p.scores.size(); ++i) {
      if (p.scores[i] < 0 || p.scores[i] > 1) {
        return absl::InvalidArgumentError(StrCat(
            "scores: row ", i / p.width, " has probability ", p.scores[i]));
      }
    }
  }
  if (p.task == v1::CLUSTERING) {
    const size_t d = p.x.cols;
    if (p.x.rows != n || d == 0 || p.centroids.size() % d != 0) {
      return absl::InvalidArgumentError(
          "features: clustering needs every row's features and the centroids");
    }
    const size_t k = p.centroids.size() / d;
    for (size_t i = 0; i < n; ++i) {
      if (p.scores[i] < 0 || p.scores[i] >= k) {
        return absl::InvalidArgumentError(StrCat(
            "scores: row ", i, " names cluster ", p.scores[i], " of ", k));
      }
    }
  }
  if (p.task == v1::TASK_UNSPECIFIED) {
    return absl::InvalidArgumentError("task: required");
  }
  return absl::OkStatus();
}

std::vector<v1::MetricValue> Scalars(const Predictions& p,
                                     const Options& options,
                                     const std::vector<uint32_t>* rows,
                                     const std::vector<double>* weights) {
  std::vector<uint32_t> r = RowsOf(p, rows);
  switch (p.task) {
    case v1::BINARY:
      return BinaryScalars(p, ByScore(p, std::move(r)), weights, options);
    case v1::MULTICLASS:
      return MulticlassScalars(p, r, weights, nullptr, nullptr);
    case v1::REGRESSION:
      return RegressionScalars(p, r, weights);
    case v1::CLUSTERING: {
      std::vector<v1::MetricValue> out = {
          Metric("inertia", Inertia(p, r, weights))};
      if (weights == nullptr)
        out.push_back(Metric("silhouette", Silhouette(p, r, options)));
      return out;
    }
    default:
      return {};
  }
}

absl::StatusOr<v1::EvaluationMetrics> Evaluate(const Predictions& p,
                                               const Options& o) {
  if (absl::Status s = Check(p); !s.ok()) return s;
  const std::string headline =
      o.headline.empty() ? HeadlineMetric(p.task) : o.headline;
  v1::EvaluationMetrics out;
  out.set_task(p.task);
  out.set_rows(static_cast<int64_t>(p.rows()));
  const std::vector<uint32_t> all = RowsOf(p, nullptr);
  std::vector<uint32_t> order;  // Binary: rows by score, sorted once.
  std::vector<v1::MetricValue> scalars = TaskMetrics(p, o, all, &order, &out);
  for (auto& m : scalars) *out.add_metrics() = std::move(m);
  if (const auto& known = MetricsFor(p.task);
      std::find(known.begin(), known.end(), headline) == known.end()) {
    return absl::InvalidArgumentError(
        StrCat("headline: no metric \"", headline, "\" for this task"));
  }
  if (o.resamples > 0) BootstrapInterval(p, o, headline, all, order, &out);
  return out;
}

}  // namespace mlpipe::eval
