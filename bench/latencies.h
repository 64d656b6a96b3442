// Call latencies a bench harness collected, and their quantiles.
#ifndef MLPIPE_BENCH_LATENCIES_H_
#define MLPIPE_BENCH_LATENCIES_H_

#include <algorithm>
#include <vector>

namespace mlpipe::bench {

struct Latencies {
  std::vector<double> micros;
  // The value at rank q * (n - 1), rounded down. REQUIRES: micros not empty.
  double Quantile(double q) const {
    std::vector<double> v = micros;
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(q * (v.size() - 1))];
  }
  double Mean() const {
    double s = 0;
    for (double m : micros) s += m;
    return s / micros.size();
  }
};

}  // namespace mlpipe::bench

#endif  // MLPIPE_BENCH_LATENCIES_H_
