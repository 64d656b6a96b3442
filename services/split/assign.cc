// Assign (assign.h): the strategies, one function each, and the folds.
#include "services/split/assign.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "common/util/hash.h"
#include "common/util/strings.h"
#include "services/split/assign_internal.h"

namespace mlpipe::split {
namespace {

using internal::Bad;

constexpr int kMaxStrata = 10000;
constexpr int kDeciles = 10;
constexpr uint64_t kFoldSalt = 0x6b2fb644ecceee15ULL;

uint64_t Mix(uint64_t x) { return SplitMix64(x); }

// A uniform double in [0, 1) from 53 bits of `h`.
double Unit(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

// splitmix64: small, fast, and the same sequence everywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = SplitMix64(state_);
    state_ += 0x9e3779b97f4a7c15ULL;
    return z;
  }
  // Uniform in [0, n) without modulo bias (Lemire's method).
  uint64_t Below(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }
  template <typename T>
  void Shuffle(std::vector<T>* v) {
    for (size_t i = v->size(); i > 1; --i)
      std::swap((*v)[i - 1], (*v)[Below(i)]);
  }

 private:
  uint64_t state_;
};

// The part of a uniform draw u under cumulative ratios.
uint8_t PartOf(double u, const std::vector<double>& cumulative) {
  for (size_t p = 0; p + 1 < cumulative.size(); ++p)
    if (u < cumulative[p]) return static_cast<uint8_t>(p);
  return static_cast<uint8_t>(cumulative.size() - 1);
}

std::vector<double> Cumulative(const std::vector<double>& ratios) {
  std::vector<double> c(ratios.size());
  std::partial_sum(ratios.begin(), ratios.end(), c.begin());
  if (!c.empty()) c.back() = 1.0;
  return c;
}

// Rows in `order` get folds 0..k-1: in turn (round robin), or in k
// consecutive blocks.
void FoldsInTurn(const std::vector<uint32_t>& order, int k,
                 std::vector<uint8_t>* folds) {
  for (size_t i = 0; i < order.size(); ++i)
    (*folds)[order[i]] = static_cast<uint8_t>(i % k);
}
void FoldsInBlocks(const std::vector<uint32_t>& order, int k,
                   std::vector<uint8_t>* folds) {
  std::vector<double> equal(k, 1.0 / k);
  auto sizes = ApportionRows(static_cast<int64_t>(order.size()), equal);
  size_t i = 0;
  for (int f = 0; f < k; ++f)
    for (int64_t j = 0; j < sizes[f]; ++j)
      (*folds)[order[i++]] = static_cast<uint8_t>(f);
}

// Groups (by hash) in a seeded order, each to the part its cumulative
// midpoint falls in: parts close to the ratios, no group on two sides.
std::unordered_map<uint64_t, uint8_t> AssignGroups(
    const std::vector<uint64_t>& group, const std::vector<uint32_t>& rows,
    uint64_t seed, const std::vector<double>& ratios) {
  std::unordered_map<uint64_t, int64_t> sizes;
  for (uint32_t r : rows) ++sizes[group[r]];
  std::vector<std::pair<uint64_t, uint64_t>> order;  // (sort key, group)
  order.reserve(sizes.size());
  const uint64_t salt = Mix(seed);
  for (const auto& [g, n] : sizes) order.emplace_back(Mix(g ^ salt), g);
  std::sort(order.begin(), order.end());
  auto cum = Cumulative(ratios);
  std::unordered_map<uint64_t, uint8_t> part;
  part.reserve(order.size());
  const double total = static_cast<double>(rows.size());
  double before = 0;
  for (const auto& [key, g] : order) {
    double n = static_cast<double>(sizes[g]);
    part[g] = PartOf((before + n / 2) / total, cum);
    before += n;
  }
  return part;
}

// How the fold part is cut into folds once every row has its part: the
// strategy dealt the folds itself, or its rows (in row order) are shuffled
// and dealt in turn, cut into consecutive blocks, or dealt whole groups.
enum class FoldCut { kDealt, kShuffled, kBlocks, kWholeGroups };

// The strategies. Each sets a->parts (and may change a->part_names) and
// says how the folds are cut; those that return kDealt have set a->folds
// when spec.folds() >= 2.

FoldCut AssignSequential(const std::vector<double>& ratios, Assignment* a) {
  auto sizes = ApportionRows(static_cast<int64_t>(a->parts.size()), ratios);
  size_t r = 0;
  for (size_t p = 0; p < sizes.size(); ++p)
    for (int64_t i = 0; i < sizes[p]; ++i)
      a->parts[r++] = static_cast<uint8_t>(p);
  return FoldCut::kBlocks;
}

FoldCut AssignRandom(const v1::SplitSpec& spec,
                     const std::vector<double>& ratios, Assignment* a) {
  const auto cum = Cumulative(ratios);
  const uint64_t salt = Mix(spec.seed());
  const size_t n = a->parts.size();
  for (size_t r = 0; r < n; ++r) a->parts[r] = PartOf(Unit(Mix(salt + r)), cum);
  return FoldCut::kShuffled;
}

FoldCut AssignShuffled(const v1::SplitSpec& spec,
                       const std::vector<double>& ratios, Assignment* a) {
  const size_t n = a->parts.size();
  std::vector<uint32_t> perm(n);
  std::iota(perm.begin(), perm.end(), 0);
  Rng rng(spec.seed());
  rng.Shuffle(&perm);
  auto sizes = ApportionRows(static_cast<int64_t>(n), ratios);
  size_t i = 0;
  for (size_t p = 0; p < sizes.size(); ++p)
    for (int64_t j = 0; j < sizes[p]; ++j)
      a->parts[perm[i++]] = static_cast<uint8_t>(p);
  return FoldCut::kShuffled;
}

// The rows of each stratum, in row order: the classes, or deciles of a
// continuous label.
absl::StatusOr<std::vector<std::vector<uint32_t>>> Strata(
    const v1::SplitSpec& spec, const SplitInputs& in) {
  const size_t n = static_cast<size_t>(in.rows);
  std::vector<std::vector<uint32_t>> strata;
  if (in.label_kind == "classes") {
    if (in.classes.size() > kMaxStrata)
      return Bad("label", StrCat("'", spec.label(), "' has ", in.classes.size(),
                                 " classes; stratified splits take at most ",
                                 kMaxStrata));
    strata.resize(in.classes.size());
    for (size_t r = 0; r < n; ++r)
      if (in.label_class[r] >= 0) strata[in.label_class[r]].push_back(r);
  } else if (in.label_kind == "continuous") {
    std::vector<uint32_t> valid;
    for (size_t r = 0; r < n; ++r)
      if (!std::isnan(in.label_value[r])) valid.push_back(r);
    std::stable_sort(valid.begin(), valid.end(), [&in](uint32_t x, uint32_t y) {
      return in.label_value[x] < in.label_value[y];
    });
    size_t bins = std::min<size_t>(kDeciles, valid.size());
    strata.resize(bins);
    for (size_t i = 0; i < valid.size(); ++i)
      strata[i * bins / valid.size()].push_back(valid[i]);
    for (auto& st : strata) std::sort(st.begin(), st.end());
  } else {
    return Bad("label", "required by the stratified strategy");
  }
  return strata;
}

absl::StatusOr<FoldCut> AssignStratified(const v1::SplitSpec& spec,
                                         const SplitInputs& in,
                                         const std::vector<double>& ratios,
                                         Assignment* a) {
  auto strata = Strata(spec, in);
  if (!strata.ok()) return strata.status();
  std::vector<int64_t> sizes;
  for (const auto& st : *strata)
    sizes.push_back(static_cast<int64_t>(st.size()));
  auto counts = StratifiedCounts(sizes, ratios);
  Rng rng(spec.seed());
  const int k = spec.folds();
  const int fp =
      k >= 2
          ? static_cast<int>(std::find(a->part_names.begin(),
                                       a->part_names.end(), spec.fold_part()) -
                             a->part_names.begin())
          : -1;
  // Rows of the fold part in the order folds are dealt.
  std::vector<uint32_t> fold_order;
  for (size_t c = 0; c < strata->size(); ++c) {
    auto& rows = (*strata)[c];
    rng.Shuffle(&rows);
    size_t i = 0;
    for (size_t p = 0; p < ratios.size(); ++p) {
      for (int64_t j = 0; j < counts[c][p]; ++j) {
        a->parts[rows[i]] = static_cast<uint8_t>(p);
        // Stratified folds: deal the fold part class by class.
        if (static_cast<int>(p) == fp) fold_order.push_back(rows[i]);
        ++i;
      }
    }
  }
  if (k >= 2) {
    a->folds.assign(a->parts.size(), kNoFold);
    FoldsInTurn(fold_order, k, &a->folds);
  }
  return FoldCut::kDealt;
}

FoldCut AssignByGroup(const v1::SplitSpec& spec, const SplitInputs& in,
                      const std::vector<double>& ratios, Assignment* a) {
  const size_t n = a->parts.size();
  std::vector<uint32_t> rows;
  for (size_t r = 0; r < n; ++r)
    if (in.group_valid[r]) rows.push_back(r);
  auto part = AssignGroups(in.group, rows, spec.seed(), ratios);
  for (uint32_t r : rows) a->parts[r] = part[in.group[r]];
  return FoldCut::kWholeGroups;
}

FoldCut AssignByTime(const v1::SplitSpec& spec, const SplitInputs& in,
                     const std::vector<double>& ratios, Assignment* a) {
  const size_t n = a->parts.size();
  std::vector<uint32_t> rows;
  for (size_t r = 0; r < n; ++r)
    if (in.column_valid[r]) rows.push_back(r);
  std::stable_sort(rows.begin(), rows.end(), [&in](uint32_t x, uint32_t y) {
    return in.order[x] < in.order[y];
  });
  if (!spec.cutoffs().empty()) {
    std::vector<double> cuts;
    for (const auto& t : spec.cutoffs())
      cuts.push_back(static_cast<double>(t.seconds()) * 1e6 +
                     static_cast<double>(t.nanos() / 1000));
    for (uint32_t r : rows) {
      a->parts[r] = static_cast<uint8_t>(
          std::upper_bound(cuts.begin(), cuts.end(), in.order[r]) -
          cuts.begin());
    }
  } else {
    auto sizes = ApportionRows(static_cast<int64_t>(rows.size()), ratios);
    size_t i = 0, target = 0;
    for (size_t p = 0; p < sizes.size(); ++p) {
      target += static_cast<size_t>(sizes[p]);
      size_t end = p + 1 == sizes.size() ? rows.size() : std::max(i, target);
      // Rows at the same time stay together, on the earlier side.
      while (end > 0 && end < rows.size() &&
             in.order[rows[end]] == in.order[rows[end - 1]])
        ++end;
      for (; i < end; ++i) a->parts[rows[i]] = static_cast<uint8_t>(p);
    }
  }
  const int k = spec.folds();
  if (k >= 2) {
    // Folds in blocks of time, not of row order.
    std::vector<uint32_t> fold_order;
    for (uint32_t r : rows)
      if (a->part_names[a->parts[r]] == spec.fold_part())
        fold_order.push_back(r);
    a->folds.assign(n, kNoFold);
    FoldsInBlocks(fold_order, k, &a->folds);
  }
  return FoldCut::kDealt;
}

FoldCut AssignByHash(const v1::SplitSpec& spec, const SplitInputs& in,
                     const std::vector<double>& ratios, Assignment* a) {
  const auto cum = Cumulative(ratios);
  const uint64_t salt = Mix(spec.seed());
  const size_t n = a->parts.size();
  for (size_t r = 0; r < n; ++r)
    if (in.column_valid[r])
      a->parts[r] = PartOf(Unit(Mix(in.key[r] ^ salt)), cum);
  const int k = spec.folds();
  if (k >= 2) {
    a->folds.assign(n, kNoFold);
    for (size_t r = 0; r < n; ++r) {
      if (a->parts[r] != kNoPart &&
          a->part_names[a->parts[r]] == spec.fold_part())
        a->folds[r] =
            static_cast<uint8_t>(Unit(Mix(in.key[r] ^ salt ^ kFoldSalt)) * k);
    }
  }
  return FoldCut::kDealt;
}

absl::StatusOr<FoldCut> AssignExplicit(const v1::SplitSpec& spec,
                                       const SplitInputs& in, Assignment* a) {
  // Parts: the spec's names, else the column's values in canonical order.
  std::vector<std::string> names = a->part_names;
  if (names.empty()) {
    names = in.names;
    std::sort(names.begin(), names.end(), CanonicalPartLess);
  }
  std::vector<int> index(in.names.size(), -1);
  for (size_t v = 0; v < in.names.size(); ++v) {
    auto it = std::find(names.begin(), names.end(), in.names[v]);
    if (it == names.end()) {
      return Bad("column", StrCat("'", spec.column(), "' has the value '",
                                  in.names[v], "', which is not a part (",
                                  names.size(), " parts given)"));
    }
    index[v] = static_cast<int>(it - names.begin());
  }
  a->part_names = names;
  const size_t n = a->parts.size();
  for (size_t r = 0; r < n; ++r)
    if (in.named[r] >= 0)
      a->parts[r] = static_cast<uint8_t>(index[in.named[r]]);
  if (spec.folds() >= 2 &&
      std::find(names.begin(), names.end(), spec.fold_part()) == names.end())
    return Bad("fold_part", StrCat("'", spec.fold_part(),
                                   "' is not a value of ", spec.column()));
  return FoldCut::kShuffled;
}

// The folds of the rows in spec.fold_part(), cut as `cut` says.
// REQUIRES: spec.folds() >= 2.
void CutFolds(const v1::SplitSpec& spec, const SplitInputs& in, FoldCut cut,
              Assignment* a) {
  if (cut == FoldCut::kDealt) return;
  const size_t n = a->parts.size();
  const int k = spec.folds();
  std::vector<uint32_t> rows;
  for (size_t r = 0; r < n; ++r)
    if (a->parts[r] != kNoPart &&
        a->part_names[a->parts[r]] == spec.fold_part())
      rows.push_back(r);
  a->folds.assign(n, kNoFold);
  if (cut == FoldCut::kWholeGroups) {
    auto fold = AssignGroups(in.group, rows, spec.seed() ^ kFoldSalt,
                             std::vector<double>(k, 1.0 / k));
    for (uint32_t r : rows) a->folds[r] = fold[in.group[r]];
  } else if (cut == FoldCut::kBlocks) {
    FoldsInBlocks(rows, k, &a->folds);
  } else {
    Rng rng(spec.seed() ^ kFoldSalt);
    rng.Shuffle(&rows);
    FoldsInTurn(rows, k, &a->folds);
  }
}

}  // namespace

absl::StatusOr<Assignment> Assign(const v1::SplitSpec& spec,
                                  const SplitInputs& in) {
  const std::string& s = spec.strategy();
  const size_t n = static_cast<size_t>(in.rows);
  if (n > std::numeric_limits<uint32_t>::max())
    return Bad("rows", "more than 2^32 rows");
  Assignment a;
  a.parts.assign(n, kNoPart);
  std::vector<double> ratios;
  for (const auto& p : spec.parts()) {
    a.part_names.push_back(p.name());
    ratios.push_back(p.ratio());
  }
  absl::StatusOr<FoldCut> cut = FoldCut::kShuffled;
  if (s == "sequential") {
    cut = AssignSequential(ratios, &a);
  } else if (s == "random") {
    cut = AssignRandom(spec, ratios, &a);
  } else if (s == "shuffled") {
    cut = AssignShuffled(spec, ratios, &a);
  } else if (s == "stratified") {
    cut = AssignStratified(spec, in, ratios, &a);
  } else if (s == "group") {
    cut = AssignByGroup(spec, in, ratios, &a);
  } else if (s == "time") {
    cut = AssignByTime(spec, in, ratios, &a);
  } else if (s == "hash") {
    cut = AssignByHash(spec, in, ratios, &a);
  } else if (s == "explicit") {
    cut = AssignExplicit(spec, in, &a);
  }
  if (!cut.ok()) return cut.status();
  if (spec.folds() >= 2) CutFolds(spec, in, *cut, &a);
  return a;
}

}  // namespace mlpipe::split
