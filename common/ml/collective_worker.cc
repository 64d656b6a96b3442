// One process of a collective GBDT fit, for collective_test: makes the same
// synthetic rows in every process (a nonlinear binary task), keeps its shard
// (row i goes to i % WORKERS), fits, and prints the AUC on held-out rows.
//
// Usage: collective_worker PORT WORKERS TASK [SLOW_MS]
//   WORKERS 0: alone, with every row (PORT and TASK unused).
//   SLOW_MS: a pause at each progress report, to be killed mid-fit.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/ml/model.h"

namespace {

constexpr size_t kRows = 60000, kHeldOut = 20000, kCols = 8;

// Row r's features and label, the same in every process.
void MakeRows(mlpipe::ml::TrainingData* train, mlpipe::ml::Matrix* test,
              std::vector<double>* test_y, int workers, int task) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> g;
  train->x.cols = test->cols = kCols;
  train->num_classes = 2;
  for (size_t r = 0; r < kRows + kHeldOut; ++r) {
    double x[kCols], s = 0;
    for (size_t j = 0; j < kCols; ++j) x[j] = g(rng);
    s = x[0] - 0.5 * x[1] + x[2] * x[3] + 0.3 * x[4] * x[4] + 0.5 * g(rng);
    const double y = s > 0.3;
    if (r >= kRows) {
      test->values.insert(test->values.end(), x, x + kCols);
      test_y->push_back(y);
      ++test->rows;
    } else if (workers == 0 || static_cast<int>(r % workers) == task) {
      train->x.values.insert(train->x.values.end(), x, x + kCols);
      train->y.push_back(y);
      ++train->x.rows;
    }
  }
}

// The area under the ROC curve (ties counted half).
double Auc(const std::vector<double>& score, const std::vector<double>& y) {
  std::vector<size_t> order(score.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return score[a] < score[b]; });
  double pos = 0, neg = 0, area = 0;
  for (size_t i : order) {
    if (y[i] > 0) {
      pos += 1;
    } else {
      area += pos;
      neg += 1;
    }
  }
  return 1.0 - area / (pos * neg);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: collective_worker PORT WORKERS TASK [SLOW_MS]\n");
    return 2;
  }
  const int port = std::stoi(argv[1]), workers = std::stoi(argv[2]),
            task = std::stoi(argv[3]);
  const int slow_ms = argc > 4 ? std::stoi(argv[4]) : 0;
  mlpipe::ml::TrainingData train;
  mlpipe::ml::Matrix test;
  std::vector<double> test_y;
  MakeRows(&train, &test, &test_y, workers, task);
  google::protobuf::Struct params;
  (*params.mutable_fields())["rounds"].set_number_value(80);
  (*params.mutable_fields())["max_depth"].set_number_value(4);
  (*params.mutable_fields())["eta"].set_number_value(0.2);
  mlpipe::ml::FitOptions options;
  options.task = mlpipe::v1::BINARY;
  options.threads = 1;
  mlpipe::ml::Collective collective{"127.0.0.1", port, workers,
                                    "worker-" + std::to_string(task)};
  if (workers > 0) options.collective = &collective;
  options.on_progress = [&](const mlpipe::ml::FitProgress& p) {
    std::fprintf(stderr, "round %lld\n", static_cast<long long>(p.iteration));
    if (slow_ms > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms));
    return absl::OkStatus();
  };
  auto model = mlpipe::ml::Fit("gbdt", params, "params", train, options);
  if (!model.ok()) {
    std::fprintf(stderr, "fit failed: %s\n", model.status().ToString().c_str());
    return 1;
  }
  std::vector<double> p;
  if (auto s = (*model)->Predict(test, &p); !s.ok()) {
    std::fprintf(stderr, "predict failed: %s\n", s.ToString().c_str());
    return 1;
  }
  std::vector<double> positive;  // P(class 1): every second output.
  const int width = (*model)->OutputWidth();
  for (size_t i = 0; i < test.rows; ++i)
    positive.push_back(p[i * width + width - 1]);
  std::printf("rows %zu auc %.6f\n", train.rows(), Auc(positive, test_y));
  return 0;
}
