#include "common/ml/metrics.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>

#include "common/util/strings.h"

namespace mlpipe::ml {

const std::vector<std::string>& MetricsFor(v1::Task task) {
  static const std::vector<std::string> binary = {"auc", "logloss", "accuracy"};
  static const std::vector<std::string> multi = {"logloss", "accuracy"};
  static const std::vector<std::string> regression = {"rmse", "mae", "r2"};
  static const std::vector<std::string> clustering = {"inertia"};
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

std::string DefaultMetric(v1::Task task) {
  const auto& m = MetricsFor(task);
  return m.empty() ? "" : m.front();
}

bool HigherIsBetter(const std::string& metric) {
  return metric == "auc" || metric == "accuracy" || metric == "r2";
}

double RocAuc(const std::vector<double>& scores, const std::vector<double>& y,
              const std::vector<double>& weights) {
  std::vector<size_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  auto w = [&](size_t i) { return weights.empty() ? 1.0 : weights[i]; };
  double tp = 0, fp = 0, area = 0;
  for (size_t k = 0; k < order.size();) {
    double tp0 = tp, fp0 = fp;
    size_t j = k;
    while (j < order.size() && scores[order[j]] == scores[order[k]]) {
      if (y[order[j]] == 1) {
        tp += w(order[j]);
      } else {
        fp += w(order[j]);
      }
      ++j;
    }
    area += (fp - fp0) * (tp + tp0) / 2;  // Trapezoid over the tie group.
    k = j;
  }
  if (tp == 0 || fp == 0) return NAN;
  return area / (tp * fp);
}

double Find(const std::vector<v1::MetricValue>& metrics,
            const std::string& name) {
  for (const auto& m : metrics) {
    if (m.name() == name) return m.value();
  }
  return NAN;
}

absl::StatusOr<std::vector<v1::MetricValue>> Score(
    const Model& model, const TrainingData& data, int threads,
    const std::vector<double>* predictions) {
  const size_t n = data.rows();
  const int width = model.OutputWidth();
  if (predictions != nullptr && predictions->size() != n * width) {
    return absl::InvalidArgumentError(StrCat(
        "predictions: ", predictions->size(), " values for ", n, " rows"));
  }
  std::vector<double> predicted;
  if (predictions == nullptr) {
    predicted.resize(n * width);
    // Predict in row blocks, in parallel (Predict is thread-safe).
    absl::Status error;
    std::mutex mu;
    ParallelFor(n, threads, [&](size_t begin, size_t end, int) {
      std::vector<double> out;
      absl::Status st =
          model.Predict(MatrixView(data.x).Rows(begin, end), &out);
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok()) {
        error = st;
        return;
      }
      std::copy(out.begin(), out.end(), predicted.begin() + begin * width);
    });
    if (!error.ok()) return error;
  }
  const std::vector<double>& pred =
      predictions != nullptr ? *predictions : predicted;

  auto w = [&](size_t i) { return data.Weight(i); };
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += w(i);
  std::vector<v1::MetricValue> out;
  auto add = [&](const std::string& name, double value) {
    v1::MetricValue m;
    m.set_name(name);
    m.set_value(value);
    out.push_back(m);
  };
  constexpr double kEps = 1e-15;
  switch (model.task()) {
    case v1::BINARY: {
      double logloss = 0, correct = 0;
      for (size_t i = 0; i < n; ++i) {
        double p = std::clamp(pred[i], kEps, 1 - kEps);
        logloss -= w(i) * (data.y[i] == 1 ? std::log(p) : std::log(1 - p));
        correct += w(i) * ((pred[i] >= 0.5) == (data.y[i] == 1));
      }
      add("auc", RocAuc(pred, data.y, data.weights));
      add("logloss", logloss / total);
      add("accuracy", correct / total);
      break;
    }
    case v1::MULTICLASS: {
      double logloss = 0, correct = 0;
      for (size_t i = 0; i < n; ++i) {
        const double* p = pred.data() + i * width;
        int label = static_cast<int>(data.y[i]);
        logloss -= w(i) * std::log(std::clamp(p[label], kEps, 1 - kEps));
        correct += w(i) * (std::max_element(p, p + width) - p == label);
      }
      add("logloss", logloss / total);
      add("accuracy", correct / total);
      break;
    }
    case v1::REGRESSION: {
      double se = 0, ae = 0, mean = 0, ss = 0;
      for (size_t i = 0; i < n; ++i) mean += w(i) * data.y[i];
      mean /= total;
      for (size_t i = 0; i < n; ++i) {
        double r = pred[i] - data.y[i];
        se += w(i) * r * r;
        ae += w(i) * std::abs(r);
        ss += w(i) * (data.y[i] - mean) * (data.y[i] - mean);
      }
      add("rmse", std::sqrt(se / total));
      add("mae", ae / total);
      add("r2", ss > 0 ? 1 - se / ss : NAN);
      break;
    }
    case v1::CLUSTERING: {
      v1::LearnedParameters p = model.Parameters();
      const auto& c = p.clusters().centroids();
      const size_t d = data.x.cols;
      double inertia = 0;
      for (size_t i = 0; i < n; ++i) {
        const double* row = data.x.Row(i);
        const double* centre = c.data() + static_cast<size_t>(pred[i]) * d;
        double s = 0;
        for (size_t j = 0; j < d; ++j)
          s += (row[j] - centre[j]) * (row[j] - centre[j]);
        inertia += w(i) * s;
      }
      add("inertia", inertia);
      break;
    }
    default:
      return absl::InvalidArgumentError("task: not set");
  }
  return out;
}

}  // namespace mlpipe::ml
