#include "common/features/sketches.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/util/strings.h"
#include "mlpipe/v1/sketch.pb.h"

namespace mlpipe::features {
namespace {

constexpr int kHllBits = 14;
constexpr size_t kHllRegisters = size_t{1} << kHllBits;

}  // namespace

// --- QuantileSketch --------------------------------------------------------

QuantileSketch::QuantileSketch(int k, size_t exact_limit)
    : k_(std::max(8, k)), exact_limit_(exact_limit) {}

double QuantileSketch::RankError(int k) {
  // Apache DataSketches' empirical bound for KLL (double-sided, 99%).
  return 2.446 / std::pow(static_cast<double>(k), 0.9433);
}

void QuantileSketch::Add(double v) {
  ++n_;
  if (exact_) {
    values_.push_back(v);
    if (values_.size() > exact_limit_) ToSketch();
    return;
  }
  levels_[0].push_back(v);
  if (levels_[0].size() >= Capacity(0)) Compress();
}

void QuantileSketch::AddMany(const double* v, size_t n) {
  while (n > 0 && exact_) {
    Add(*v++);
    --n;
  }
  n_ += n;
  while (n > 0) {
    auto& level = levels_[0];
    const size_t m =
        std::min(n, Capacity(0) - std::min(Capacity(0), level.size()));
    level.insert(level.end(), v, v + m);
    v += m;
    n -= m;
    if (level.size() >= Capacity(0)) Compress();
  }
}

void QuantileSketch::ToSketch() {
  exact_ = false;
  if (levels_.empty()) AddLevel();
  std::vector<double> values = std::move(values_);
  values_.clear();
  for (double v : values) {
    levels_[0].push_back(v);
    if (levels_[0].size() >= Capacity(0)) Compress();
  }
}

size_t QuantileSketch::Capacity(size_t level) const {
  return capacities_[level];
}

void QuantileSketch::AddLevel() {
  levels_.emplace_back();
  // Capacities shrink by 2/3 per level below the top; recomputed only when
  // the sketch grows a level (std::pow is too slow for every Add).
  capacities_.resize(levels_.size());
  for (size_t h = 0; h < levels_.size(); ++h) {
    size_t depth = levels_.size() - 1 - h;
    capacities_[h] = std::max<size_t>(
        8, static_cast<size_t>(std::ceil(k_ * std::pow(2.0 / 3.0, depth))));
  }
}

bool QuantileSketch::Flip() {
  uint64_t z = (coin_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return ((z ^ (z >> 31)) & 1) != 0;
}

namespace {

// Sorts 8 values with an optimal network (19 compare-exchanges, branch
// free): level 0 of a deep sketch fills every 8 values, and insertion sort's
// mispredicted branches were most of a profile's time.
void Sort8(double* v) {
  auto cx = [v](int a, int b) {
    const double lo = std::min(v[a], v[b]), hi = std::max(v[a], v[b]);
    v[a] = lo;
    v[b] = hi;
  };
  cx(0, 2), cx(1, 3), cx(4, 6), cx(5, 7);
  cx(0, 4), cx(1, 5), cx(2, 6), cx(3, 7);
  cx(0, 1), cx(2, 3), cx(4, 5), cx(6, 7);
  cx(2, 4), cx(3, 5);
  cx(1, 4), cx(3, 6);
  cx(1, 2), cx(3, 4), cx(5, 6);
}

// Merges the sorted `run` (not in `level`) into the sorted `level`, from
// the back: no buffer to allocate.
void MergeInto(std::vector<double>& level, const double* run, size_t n) {
  size_t i = level.size(), j = n, k = level.size() + n;
  level.resize(k);
  while (j > 0) {
    if (i > 0 && level[i - 1] > run[j - 1]) {
      level[--k] = level[--i];
    } else {
      level[--k] = run[--j];
    }
  }
}

}  // namespace

// Levels above 0 are kept sorted (compactions and merges add sorted runs);
// level 0 is sorted when it compacts. A compaction keeps every other item
// of its sorted level, from a random offset, with double weight.
void QuantileSketch::Compress() {
  for (size_t h = 0; h < levels_.size(); ++h) {
    if (levels_[h].size() < Capacity(h)) continue;
    if (h + 1 == levels_.size()) AddLevel();
    auto& level = levels_[h];
    if (h == 0) {
      if (level.size() == 8) {
        Sort8(level.data());
      } else {
        std::sort(level.begin(), level.end());
      }
    }
    // With an odd count one item stays; the rest pair up, and one of each
    // pair (chosen by a shared random offset) moves up with double weight.
    const size_t start = level.size() % 2;
    const size_t offset = Flip() ? 1 : 0;
    size_t kept = start;  // Written after the item that stays.
    for (size_t i = start + offset; i < level.size(); i += 2)
      level[kept++] = level[i];  // i >= kept: in place, still sorted.
    MergeInto(levels_[h + 1], level.data() + start, kept - start);
    level.resize(start);  // The smallest stays when the count is odd.
  }
}

void QuantileSketch::Merge(const QuantileSketch& other) {
  if (other.n_ == 0) return;
  if (exact_ && other.exact_ &&
      values_.size() + other.values_.size() <= exact_limit_) {
    values_.insert(values_.end(), other.values_.begin(), other.values_.end());
    n_ += other.n_;
    return;
  }
  if (exact_) ToSketch();
  for (double v : other.values_) levels_[0].push_back(v);
  for (size_t h = 0; h < other.levels_.size(); ++h) {
    while (levels_.size() <= h) AddLevel();
    if (h == 0) {
      levels_[0].insert(levels_[0].end(), other.levels_[0].begin(),
                        other.levels_[0].end());
    } else {
      MergeInto(levels_[h], other.levels_[h].data(), other.levels_[h].size());
    }
  }
  n_ += other.n_;
  for (size_t h = 0; h < levels_.size(); ++h) {
    if (levels_[h].size() >= Capacity(h)) Compress();
  }
}

std::vector<std::pair<double, uint64_t>> QuantileSketch::Weighted() const {
  std::vector<std::pair<double, uint64_t>> items;
  items.reserve(values_.size());
  for (double v : values_) items.emplace_back(v, 1);
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) items.emplace_back(v, uint64_t{1} << h);
  }
  std::sort(items.begin(), items.end());
  return items;
}

double QuantileSketch::Quantile(double q) const {
  q = std::clamp(q, 0.0, 1.0);
  if (exact_) {
    std::vector<double> sorted = values_;
    std::sort(sorted.begin(), sorted.end());
    double pos = q * static_cast<double>(sorted.size() - 1);
    size_t lo = static_cast<size_t>(std::floor(pos));
    size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] +
           (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
  }
  auto items = Weighted();
  uint64_t total = 0;
  for (const auto& [v, w] : items) total += w;
  double target = q * static_cast<double>(total);
  uint64_t cum = 0;
  for (const auto& [v, w] : items) {
    cum += w;
    if (static_cast<double>(cum) >= target) return v;
  }
  return items.back().first;
}

std::vector<int64_t> QuantileSketch::HistogramCounts(
    const std::vector<double>& b) const {
  std::vector<int64_t> counts(b.size() > 1 ? b.size() - 1 : 0, 0);
  if (counts.empty()) return counts;
  auto add = [&](double v, int64_t w) {
    if (v < b.front() || v > b.back()) return;
    size_t i = std::upper_bound(b.begin(), b.end(), v) - b.begin();
    i = std::min(i == 0 ? 0 : i - 1, counts.size() - 1);
    counts[i] += w;
  };
  for (double v : values_) add(v, 1);
  for (size_t h = 0; h < levels_.size(); ++h) {
    for (double v : levels_[h]) add(v, int64_t{1} << h);
  }
  return counts;
}

void QuantileSketch::ToProto(v1::QuantileSketchState* out) const {
  out->Clear();
  out->set_k(k_);
  out->set_exact_limit(exact_limit_);
  out->set_count(n_);
  out->set_exact(exact_);
  out->set_coin(coin_);
  out->mutable_values()->Add(values_.begin(), values_.end());
  for (const auto& level : levels_)
    out->add_levels()->mutable_values()->Add(level.begin(), level.end());
}

absl::StatusOr<QuantileSketch> QuantileSketch::FromProto(
    const v1::QuantileSketchState& state) {
  auto bad = [](const std::string& why) {
    return absl::DataLossError(StrCat("quantile sketch state: ", why));
  };
  if (state.k() < 8 || state.k() > (1 << 16))
    return bad(StrCat("k ", state.k(), " is out of range"));
  if (state.levels_size() > 64) return bad("more than 64 levels");
  QuantileSketch s(state.k(), state.exact_limit());
  s.n_ = state.count();
  s.exact_ = state.exact();
  if (state.coin() != 0) s.coin_ = state.coin();
  s.values_.assign(state.values().begin(), state.values().end());
  uint64_t weight = s.values_.size();
  for (int h = 0; h < state.levels_size(); ++h) {
    s.AddLevel();
    const auto& v = state.levels(h).values();
    s.levels_[h].assign(v.begin(), v.end());
    // States written before levels were kept sorted: sorted here.
    if (h > 0) std::sort(s.levels_[h].begin(), s.levels_[h].end());
    weight += static_cast<uint64_t>(v.size()) << h;
  }
  if (s.exact_ != s.levels_.empty() || (!s.exact_ && !s.values_.empty()))
    return bad("exact mode keeps values, sketch mode levels");
  if (weight != s.n_)
    return bad(
        StrCat("the weights add up to ", weight, ", not the count ", s.n_));
  return s;
}

// --- DistinctCounter -------------------------------------------------------

double DistinctCounter::RelativeError() {
  return 1.04 / std::sqrt(static_cast<double>(kHllRegisters));
}

void DistinctCounter::AddToRegisters(uint64_t h) {
  size_t index = h >> (64 - kHllBits);
  uint64_t rest = (h << kHllBits) | (uint64_t{1} << (kHllBits - 1));
  uint8_t rank = static_cast<uint8_t>(std::countl_zero(rest) + 1);
  registers_[index] = std::max(registers_[index], rank);
}

void DistinctCounter::ToSketch() {
  registers_.assign(kHllRegisters, 0);
  for (uint64_t h : hashes_) AddToRegisters(h);
  hashes_.clear();
}

void DistinctCounter::AddHash(uint64_t h) {
  if (!registers_.empty()) return AddToRegisters(h);
  hashes_.insert(h);
  if (hashes_.size() > exact_limit_) ToSketch();
}

void DistinctCounter::Merge(const DistinctCounter& other) {
  if (registers_.empty() && other.registers_.empty()) {
    for (uint64_t h : other.hashes_) AddHash(h);
    return;
  }
  if (registers_.empty()) ToSketch();
  for (uint64_t h : other.hashes_) AddToRegisters(h);
  for (size_t i = 0; i < other.registers_.size(); ++i) {
    registers_[i] = std::max(registers_[i], other.registers_[i]);
  }
}

uint64_t DistinctCounter::Estimate() const {
  if (registers_.empty()) return hashes_.size();
  const double m = static_cast<double>(kHllRegisters);
  double sum = 0;
  int zeros = 0;
  for (uint8_t r : registers_) {
    sum += std::ldexp(1.0, -r);
    zeros += r == 0;
  }
  double estimate = (0.7213 / (1 + 1.079 / m)) * m * m / sum;
  if (estimate <= 2.5 * m && zeros > 0)
    estimate = m * std::log(m / zeros);  // Linear counting.
  return static_cast<uint64_t>(std::llround(estimate));
}

// --- TopValues -------------------------------------------------------------

void TopValues::Add(std::string_view value, int64_t count) {
  auto it = counts_.find(std::string(value));
  if (it != counts_.end()) {
    it->second += count;
    return;
  }
  counts_.emplace(std::string(value), count);
  if (counts_.size() > capacity_) Prune();
}

void TopValues::Prune() {
  exact_ = false;
  std::vector<std::pair<int64_t, std::string>> by_count;
  by_count.reserve(counts_.size());
  for (auto& [v, c] : counts_) by_count.emplace_back(c, v);
  size_t keep = capacity_ / 2;
  std::nth_element(
      by_count.begin(), by_count.begin() + keep, by_count.end(),
      [](const auto& a, const auto& b) { return a.first > b.first; });
  by_count.resize(keep);
  counts_.clear();
  for (auto& [c, v] : by_count) counts_.emplace(std::move(v), c);
}

void TopValues::Merge(const TopValues& other) {
  exact_ = exact_ && other.exact_;
  for (const auto& [v, c] : other.counts_) Add(v, c);
}

std::vector<std::pair<std::string, int64_t>> TopValues::Top(size_t n) const {
  std::vector<std::pair<std::string, int64_t>> all(counts_.begin(),
                                                   counts_.end());
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (all.size() > n) all.resize(n);
  return all;
}

}  // namespace mlpipe::features
