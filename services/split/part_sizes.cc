// Part sizes: ApportionRows and StratifiedCounts (assign.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "services/split/assign.h"

namespace mlpipe::split {
namespace {

// Controlled rounding of per-class part quotas (n_c * ratio_p): every count
// within one row of its quota, every part's total within one row of its
// quota, every class whole.
class QuotaRounding {
 public:
  QuotaRounding(const std::vector<int64_t>& class_rows,
                const std::vector<double>& ratios);
  std::vector<std::vector<int64_t>> Counts();

 private:
  // Pushes remaining rows along augmenting paths while parts stay at or
  // below `cap`.
  void Augment(const std::vector<int64_t>& cap);
  // One BFS from the classes with rows left to a part below `cap`: the part
  // reached (-1 when none), with the path in prev_of_part / prev_of_class.
  int FindPath(const std::vector<int64_t>& cap, std::vector<int>* prev_of_part,
               std::vector<int>* prev_of_class) const;

  std::vector<std::vector<int64_t>> count_;
  // Floors of every quota, and which quotas have a fraction (may take +1).
  std::vector<std::vector<uint8_t>> open_;
  std::vector<int64_t> supply_;
  std::vector<double> extra_;  // Part quota above the floors.
  std::vector<int64_t> flow_in_, flow_out_;
  std::vector<std::vector<uint8_t>> used_;
};

QuotaRounding::QuotaRounding(const std::vector<int64_t>& class_rows,
                             const std::vector<double>& ratios)
    : count_(class_rows.size(), std::vector<int64_t>(ratios.size())),
      open_(class_rows.size(), std::vector<uint8_t>(ratios.size())),
      supply_(class_rows.size()),
      extra_(ratios.size()),
      flow_in_(class_rows.size()),
      flow_out_(ratios.size()),
      used_(class_rows.size(), std::vector<uint8_t>(ratios.size())) {
  const size_t C = class_rows.size(), P = ratios.size();
  for (size_t c = 0; c < C; ++c) {
    int64_t sum = 0;
    for (size_t p = 0; p < P; ++p) {
      double q = static_cast<double>(class_rows[c]) * ratios[p];
      count_[c][p] = static_cast<int64_t>(std::floor(q + 1e-9));
      open_[c][p] = q - static_cast<double>(count_[c][p]) > 1e-9;
      sum += count_[c][p];
      extra_[p] += q - static_cast<double>(count_[c][p]);
    }
    supply_[c] = std::max<int64_t>(0, class_rows[c] - sum);
  }
}

int QuotaRounding::FindPath(const std::vector<int64_t>& cap,
                            std::vector<int>* prev_of_part,
                            std::vector<int>* prev_of_class) const {
  const size_t C = supply_.size(), P = extra_.size();
  // BFS over classes and parts; prev encodes the path.
  std::vector<size_t> queue;
  for (size_t c = 0; c < C; ++c) {
    if (flow_in_[c] < supply_[c]) {
      (*prev_of_class)[c] = -1;  // From the source.
      queue.push_back(c);
    }
  }
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    size_t c = queue[qi];
    for (size_t p = 0; p < P; ++p) {
      if (!open_[c][p] || used_[c][p] || (*prev_of_part)[p] >= 0) continue;
      (*prev_of_part)[p] = static_cast<int>(c);
      if (flow_out_[p] < cap[p]) return static_cast<int>(p);
      for (size_t c2 = 0; c2 < C; ++c2) {  // Back along used edges.
        if (used_[c2][p] && (*prev_of_class)[c2] == -2) {
          (*prev_of_class)[c2] = static_cast<int>(p);
          queue.push_back(c2);
        }
      }
    }
  }
  return -1;
}

void QuotaRounding::Augment(const std::vector<int64_t>& cap) {
  const size_t C = supply_.size(), P = extra_.size();
  while (true) {
    std::vector<int> prev_of_part(P, -1), prev_of_class(C, -2);
    int end = FindPath(cap, &prev_of_part, &prev_of_class);
    if (end < 0) return;
    size_t p = end;
    ++flow_out_[p];
    while (true) {
      size_t c = prev_of_part[p];
      used_[c][p] = 1;
      int back = prev_of_class[c];
      if (back == -1) {
        ++flow_in_[c];
        break;
      }
      used_[c][back] = 0;
      p = back;
    }
  }
}

std::vector<std::vector<int64_t>> QuotaRounding::Counts() {
  // Controlled rounding as a flow: each class hands its remaining rows, one
  // per part with a fractional quota, to parts whose totals stay within
  // [floor, ceil] of their quota. Filling the floors first and then the
  // ceilings keeps every part at least at its floor (augmenting paths never
  // take flow back from the sink).
  const size_t C = supply_.size(), P = extra_.size();
  std::vector<int64_t> lo(P), hi(P);
  for (size_t p = 0; p < P; ++p) {
    lo[p] = static_cast<int64_t>(std::floor(extra_[p] + 1e-6));
    hi[p] = static_cast<int64_t>(std::ceil(extra_[p] - 1e-6));
  }
  Augment(lo);
  Augment(hi);
  for (size_t c = 0; c < C; ++c) {
    for (size_t p = 0; p < P; ++p) count_[c][p] += used_[c][p];
    // Should not happen (a feasible rounding always exists); keep the class
    // whole anyway.
    int64_t left = supply_[c] - flow_in_[c];
    for (size_t p = 0; left > 0 && p < P; ++p) {
      if (open_[c][p] && !used_[c][p]) ++count_[c][p], --left;
    }
    if (left > 0) count_[c][0] += left;
  }
  return std::move(count_);
}

}  // namespace

std::vector<int64_t> ApportionRows(int64_t n,
                                   const std::vector<double>& ratios) {
  std::vector<int64_t> out(ratios.size());
  std::vector<std::pair<double, size_t>> rest;
  int64_t given = 0;
  for (size_t p = 0; p < ratios.size(); ++p) {
    double q = static_cast<double>(n) * ratios[p];
    out[p] = static_cast<int64_t>(std::floor(q + 1e-9));
    given += out[p];
    rest.emplace_back(q - static_cast<double>(out[p]), p);
  }
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) {
    return a.first > b.first;
  });
  for (size_t i = 0; given < n; i = (i + 1) % rest.size(), ++given)
    ++out[rest[i].second];
  while (given > n) {  // Only from rounding noise.
    for (size_t p = out.size(); p-- > 0 && given > n;)
      if (out[p] > 0) --out[p], --given;
  }
  return out;
}

std::vector<std::vector<int64_t>> StratifiedCounts(
    const std::vector<int64_t>& class_rows, const std::vector<double>& ratios) {
  return QuotaRounding(class_rows, ratios).Counts();
}

}  // namespace mlpipe::split
