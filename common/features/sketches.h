// Mergeable summaries of streams of values, for column statistics. Each one
// is exact while the stream is small and switches to a bounded-memory sketch
// with a stated error beyond that. Not thread-safe.
#ifndef MLPIPE_COMMON_FEATURES_SKETCHES_H_
#define MLPIPE_COMMON_FEATURES_SKETCHES_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/util/hash.h"

namespace mlpipe::v1 {
class QuantileSketchState;
}

namespace mlpipe::features {

// Stable hashes (common/util/hash.h): persisted sketches can be merged.
using ::mlpipe::StableHash;

// Quantiles of a stream of doubles. Exact while it holds at most
// `exact_limit` values; then a KLL sketch (Karnin, Lang & Liberty 2016) with
// parameter `k`, whose normalized rank error is at most RankError(k) with 99%
// confidence (1.66% for k = 200).
class QuantileSketch {
 public:
  explicit QuantileSketch(int k = 200, size_t exact_limit = 1 << 16);
  void Add(double v);
  // Add of each of `n` values, faster.
  void AddMany(const double* v, size_t n);
  void Merge(const QuantileSketch& other);
  uint64_t count() const { return n_; }
  bool exact() const { return exact_; }
  // REQUIRES: count() > 0. Exact mode: numpy's default (linear
  // interpolation). Sketch mode: the smallest retained value whose weighted
  // rank reaches q * count().
  double Quantile(double q) const;
  // Number of values in each bucket [b[i], b[i+1]) (last bucket closed).
  std::vector<int64_t> HistogramCounts(const std::vector<double>& b) const;
  static double RankError(int k);
  // Every retained value with the number of values it stands for, sorted
  // by value (exact mode: each value with weight 1). The input of the drift
  // statistics (common/ml/drift.h).
  std::vector<std::pair<double, uint64_t>> Weighted() const;
  // Its state, and back (DATA_LOSS when the state is inconsistent: the
  // weights must add up to the count). A restored sketch merges and
  // answers as the original.
  void ToProto(v1::QuantileSketchState* out) const;
  static absl::StatusOr<QuantileSketch> FromProto(
      const v1::QuantileSketchState& state);

 private:
  void ToSketch();
  void Compress();
  size_t Capacity(size_t level) const;
  void AddLevel();

  int k_;
  size_t exact_limit_;
  bool exact_ = true;
  uint64_t n_ = 0;
  std::vector<double> values_;               // Exact mode.
  std::vector<std::vector<double>> levels_;  // Sketch: level h weighs 2^h.
  std::vector<size_t> capacities_;           // Per level; depend on depth.
  // The coin for compactions: splitmix64 from a fixed seed (reproducible
  // results), one word of state so that a restored sketch goes on exactly
  // as the original would.
  uint64_t coin_ = 0x6d6c70697065ULL;
  bool Flip();
};

// Number of distinct values. Exact (a set of hashes) up to `exact_limit`
// distinct values, then HyperLogLog with 2^14 registers: relative standard
// error 1.04 / sqrt(2^14) = 0.81%.
class DistinctCounter {
 public:
  explicit DistinctCounter(size_t exact_limit = 4096)
      : exact_limit_(exact_limit) {}
  void AddHash(uint64_t h);
  void Merge(const DistinctCounter& other);
  uint64_t Estimate() const;
  bool exact() const { return registers_.empty(); }
  static double RelativeError();

 private:
  void ToSketch();
  void AddToRegisters(uint64_t h);
  size_t exact_limit_;
  std::unordered_set<uint64_t> hashes_;
  std::vector<uint8_t> registers_;
};

// The most frequent strings. Exact while at most `capacity` distinct values
// were seen; past that the least frequent half is dropped whenever the table
// fills, so counts become lower bounds and rare values may be missed.
class TopValues {
 public:
  explicit TopValues(size_t capacity = 4096) : capacity_(capacity) {}
  void Add(std::string_view value, int64_t count = 1);
  void Merge(const TopValues& other);
  // The `n` most frequent, most frequent first (ties by value).
  std::vector<std::pair<std::string, int64_t>> Top(size_t n) const;
  bool exact() const { return exact_; }

 private:
  void Prune();
  size_t capacity_;
  bool exact_ = true;
  std::unordered_map<std::string, int64_t> counts_;
};

}  // namespace mlpipe::features

#endif  // MLPIPE_COMMON_FEATURES_SKETCHES_H_
