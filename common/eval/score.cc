#include "common/eval/score.h"

#include <mutex>

#include "common/util/strings.h"
#include "mlpipe/v1/model.pb.h"

namespace mlpipe::eval {

absl::StatusOr<Predictions> Predict(
    const ml::Model& model, const ml::TrainingData& data, int threads,
    std::optional<std::vector<double>> predictions) {
  const size_t n = data.rows();
  Predictions p;
  p.task = model.task();
  p.width = model.OutputWidth();
  if (predictions) {
    if (predictions->size() != n * p.width) {
      return absl::InvalidArgumentError(StrCat(
          "predictions: ", predictions->size(), " values for ", n, " rows"));
    }
    p.scores = std::move(*predictions);
  } else {
    p.scores.resize(n * p.width);
    absl::Status error;
    std::mutex mu;
    ml::ParallelFor(n, threads, [&](size_t begin, size_t end, int) {
      std::vector<double> out;
      absl::Status st =
          model.Predict(ml::MatrixView(data.x).Rows(begin, end), &out);
      std::lock_guard<std::mutex> lock(mu);
      if (!st.ok()) {
        error = st;
        return;
      }
      std::copy(out.begin(), out.end(), p.scores.begin() + begin * p.width);
    });
    if (!error.ok()) return error;
  }
  p.y = data.y;
  p.x = data.x;
  if (p.task == v1::CLUSTERING) {
    const v1::LearnedParameters params = model.Parameters();
    const auto& c = params.clusters().centroids();
    p.centroids.assign(c.begin(), c.end());
  }
  return p;
}

absl::StatusOr<std::vector<v1::MetricValue>> Score(
    const ml::Model& model, const ml::TrainingData& data, int threads,
    std::optional<std::vector<double>> predictions) {
  auto p = Predict(model, data, threads, std::move(predictions));
  if (!p.ok()) return p.status();
  if (absl::Status s = Check(*p); !s.ok()) return s;
  return Scalars(*p, Options(), nullptr,
                 data.weights.empty() ? nullptr : &data.weights);
}

}  // namespace mlpipe::eval
