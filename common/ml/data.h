// Training data as the algorithms see it: a dense row-major matrix of
// features (doubles; NaN marks a missing value), labels encoded as numbers
// and optional row weights. gRPC- and storage-free.
#ifndef MLPIPE_COMMON_ML_DATA_H_
#define MLPIPE_COMMON_ML_DATA_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace mlpipe::ml {

// Row-major: values[i * cols + j] is feature j of row i.
struct Matrix {
  size_t rows = 0;
  size_t cols = 0;
  std::vector<double> values;

  const double* Row(size_t i) const { return values.data() + i * cols; }
  double* MutableRow(size_t i) { return values.data() + i * cols; }
};

// A read-only window onto row-major doubles: a Matrix or some of its rows,
// without a copy.
struct MatrixView {
  const double* values = nullptr;
  size_t rows = 0;
  size_t cols = 0;

  MatrixView() = default;
  MatrixView(const double* v, size_t r, size_t c)
      : values(v), rows(r), cols(c) {}
  MatrixView(const Matrix& m)  // NOLINT: a Matrix is viewed implicitly.
      : values(m.values.data()), rows(m.rows), cols(m.cols) {}
  const double* Row(size_t i) const { return values + i * cols; }
  // Rows [begin, end).
  MatrixView Rows(size_t begin, size_t end) const {
    return {Row(begin), end - begin, cols};
  }
};

struct TrainingData {
  Matrix x;
  // Classification: the class index 0..num_classes-1 (BINARY: 1 is the
  // positive class). Regression: the value. Clustering: empty.
  std::vector<double> y;
  // One weight per row (class weights folded in); empty: every row 1.
  std::vector<double> weights;
  int num_classes = 0;                // Classification only.
  std::vector<std::string> features;  // Column names, for error messages.

  size_t rows() const { return x.rows; }
  double Weight(size_t i) const { return weights.empty() ? 1.0 : weights[i]; }
};

// Asks the kernel to back [p, p + bytes) with transparent huge pages where
// it can (the 2 MiB-aligned middle): a gigabyte matrix is first written in
// about a third of the time. A hint; does nothing where unsupported.
void AdviseHugePages(const void* p, size_t bytes);

// Runs fn(begin, end, part) over [0, n) split into at most `threads`
// contiguous parts, on that many threads (the calling thread runs part 0).
// Returns the number of parts used.
int ParallelFor(size_t n, int threads,
                const std::function<void(size_t, size_t, int)>& fn);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_DATA_H_
