#include "services/split/assign.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <unordered_map>

#include "common/table/typing.h"
#include "common/util/hash.h"
#include "common/util/strings.h"

namespace mlpipe::split {
namespace {

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

// The text of row r (numbers as JavaScript prints them), for hashing and
// naming.
std::string ValueText(const table::Column& c, size_t r) {
  if (table::IsStringType(c.type)) return c.strings[r];
  std::string out;
  if (c.type == table::ColumnType::kNumeric) {
    table::AppendNumber(c.numbers[r], &out);
  } else if (c.type == table::ColumnType::kTimestamp) {
    out = std::to_string(c.timestamps[r]);
  }
  return out;
}

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

absl::Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(StrCat(field, ": ", why));
}

}  // namespace

uint64_t HashText(std::string_view text) { return StableHash(text); }

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
  const size_t C = class_rows.size(), P = ratios.size();
  std::vector<std::vector<int64_t>> count(C, std::vector<int64_t>(P));
  // Floors of every quota, and which quotas have a fraction (may take +1).
  std::vector<std::vector<uint8_t>> open(C, std::vector<uint8_t>(P));
  std::vector<int64_t> supply(C);
  std::vector<double> extra(P);  // Part quota above the floors.
  for (size_t c = 0; c < C; ++c) {
    int64_t sum = 0;
    for (size_t p = 0; p < P; ++p) {
      double q = static_cast<double>(class_rows[c]) * ratios[p];
      count[c][p] = static_cast<int64_t>(std::floor(q + 1e-9));
      open[c][p] = q - static_cast<double>(count[c][p]) > 1e-9;
      sum += count[c][p];
      extra[p] += q - static_cast<double>(count[c][p]);
    }
    supply[c] = std::max<int64_t>(0, class_rows[c] - sum);
  }
  // Controlled rounding as a flow: each class hands its remaining rows, one
  // per part with a fractional quota, to parts whose totals stay within
  // [floor, ceil] of their quota. Filling the floors first and then the
  // ceilings keeps every part at least at its floor (augmenting paths never
  // take flow back from the sink).
  std::vector<int64_t> flow_in(C), flow_out(P);
  std::vector<std::vector<uint8_t>> used(C, std::vector<uint8_t>(P));
  auto augment = [&](const std::vector<int64_t>& cap) {
    while (true) {
      // BFS over classes and parts; prev encodes the path.
      std::vector<int> prev_of_part(P, -1), prev_of_class(C, -2);
      std::vector<size_t> queue;
      for (size_t c = 0; c < C; ++c) {
        if (flow_in[c] < supply[c]) {
          prev_of_class[c] = -1;  // From the source.
          queue.push_back(c);
        }
      }
      int end = -1;
      for (size_t qi = 0; qi < queue.size() && end < 0; ++qi) {
        size_t c = queue[qi];
        for (size_t p = 0; p < P && end < 0; ++p) {
          if (!open[c][p] || used[c][p] || prev_of_part[p] >= 0) continue;
          prev_of_part[p] = static_cast<int>(c);
          if (flow_out[p] < cap[p]) {
            end = static_cast<int>(p);
            break;
          }
          for (size_t c2 = 0; c2 < C; ++c2) {  // Back along used edges.
            if (used[c2][p] && prev_of_class[c2] == -2) {
              prev_of_class[c2] = static_cast<int>(p);
              queue.push_back(c2);
            }
          }
        }
      }
      if (end < 0) return;
      size_t p = end;
      ++flow_out[p];
      while (true) {
        size_t c = prev_of_part[p];
        used[c][p] = 1;
        int back = prev_of_class[c];
        if (back == -1) {
          ++flow_in[c];
          break;
        }
        used[c][back] = 0;
        p = back;
      }
    }
  };
  std::vector<int64_t> lo(P), hi(P);
  for (size_t p = 0; p < P; ++p) {
    lo[p] = static_cast<int64_t>(std::floor(extra[p] + 1e-6));
    hi[p] = static_cast<int64_t>(std::ceil(extra[p] - 1e-6));
  }
  augment(lo);
  augment(hi);
  for (size_t c = 0; c < C; ++c) {
    for (size_t p = 0; p < P; ++p) count[c][p] += used[c][p];
    // Should not happen (a feasible rounding always exists); keep the class
    // whole anyway.
    int64_t left = supply[c] - flow_in[c];
    for (size_t p = 0; left > 0 && p < P; ++p) {
      if (open[c][p] && !used[c][p]) ++count[c][p], --left;
    }
    if (left > 0) count[c][0] += left;
  }
  return count;
}

InputsBuilder::InputsBuilder(const v1::SplitSpec& spec) : spec_(spec) {}

std::vector<std::string> InputsBuilder::Columns() const {
  std::vector<std::string> out;
  auto add = [&out](const std::string& c) {
    if (!c.empty() && std::find(out.begin(), out.end(), c) == out.end())
      out.push_back(c);
  };
  add(spec_.label());
  const std::string& s = spec_.strategy();
  if (s == "time" || s == "hash" || s == "explicit") add(spec_.column());
  add(spec_.group_column());
  return out;
}

absl::Status InputsBuilder::Add(const table::Table& chunk) {
  const size_t n = chunk.num_rows;
  auto find =
      [&](const std::string& field,
          const std::string& name) -> absl::StatusOr<const table::Column*> {
    int i = chunk.Find(name);
    if (i < 0) return Bad(field, StrCat("no column '", name, "' in the data"));
    return &chunk.columns[i];
  };
  if (!spec_.label().empty()) {
    auto c = find("label", spec_.label());
    if (!c.ok()) return c.status();
    const table::Column& col = **c;
    if (col.type == table::ColumnType::kTimestamp)
      return Bad("label", StrCat("'", col.name, "' is a timestamp column"));
    if (col.type == table::ColumnType::kNumeric) {
      if (!label_codes_.empty())
        return Bad("label", StrCat("'", col.name, "' changes type"));
      label_numeric_ = true;
    } else if (table::IsStringType(col.type) && label_numeric_) {
      return Bad("label", StrCat("'", col.name, "' changes type"));
    }
    for (size_t r = 0; r < n; ++r) {
      if (label_numeric_) {
        in_.label_value.push_back(
            col.type == table::ColumnType::kNumeric && col.IsValid(r)
                ? col.numbers[r]
                : std::numeric_limits<double>::quiet_NaN());
      } else if (!col.IsValid(r) || !table::IsStringType(col.type)) {
        in_.label_class.push_back(-1);
      } else {
        auto [it, added] = label_codes_.try_emplace(
            col.strings[r], static_cast<int32_t>(label_codes_.size()));
        if (added) in_.classes.push_back(col.strings[r]);
        in_.label_class.push_back(it->second);
      }
    }
  }
  const std::string& s = spec_.strategy();
  if (s == "time" || s == "hash" || s == "explicit") {
    auto c = find("column", spec_.column());
    if (!c.ok()) return c.status();
    const table::Column& col = **c;
    if (s == "time" && (table::IsStringType(col.type))) {
      return Bad("column",
                 StrCat("'", col.name, "' is ", table::ColumnTypeName(col.type),
                        "; time needs a timestamp or numeric column"));
    }
    if (s == "time" && !spec_.cutoffs().empty() &&
        col.type == table::ColumnType::kNumeric)
      return Bad("cutoffs", StrCat("need a timestamp column; '", col.name,
                                   "' is numeric"));
    for (size_t r = 0; r < n; ++r) {
      bool valid = col.type != table::ColumnType::kUnknown && col.IsValid(r);
      in_.column_valid.push_back(valid);
      if (s == "time") {
        in_.order.push_back(!valid ? 0
                            : col.type == table::ColumnType::kTimestamp
                                ? static_cast<double>(col.timestamps[r])
                                : col.numbers[r]);
      } else if (s == "hash") {
        in_.key.push_back(valid ? HashText(ValueText(col, r)) : 0);
      } else {
        int32_t code = -1;
        if (valid) {
          std::string text = ValueText(col, r);
          auto [it, added] = name_codes_.try_emplace(
              text, static_cast<int32_t>(name_codes_.size()));
          if (added) {
            if (name_codes_.size() > kMaxParts)
              return Bad("column",
                         StrCat("'", col.name, "' has more than ", kMaxParts,
                                " distinct values; an explicit split "
                                "column names parts"));
            in_.names.push_back(text);
          }
          code = it->second;
        }
        in_.named.push_back(code);
      }
    }
  }
  if (!spec_.group_column().empty()) {
    auto c = find("group_column", spec_.group_column());
    if (!c.ok()) return c.status();
    const table::Column& col = **c;
    for (size_t r = 0; r < n; ++r) {
      bool valid = col.type != table::ColumnType::kUnknown && col.IsValid(r);
      in_.group_valid.push_back(valid);
      in_.group.push_back(valid ? HashText(ValueText(col, r)) : 0);
    }
  }
  in_.rows += static_cast<int64_t>(n);
  return absl::OkStatus();
}

SplitInputs InputsBuilder::Finish() {
  if (!spec_.label().empty()) {
    if (label_numeric_) {
      std::map<double, int32_t> distinct;
      bool classes = true;
      for (double v : in_.label_value) {
        if (std::isnan(v)) continue;
        if (v != std::floor(v)) {
          classes = false;
          break;
        }
        distinct.emplace(v, 0);
        if (distinct.size() > kMaxNumericClasses) {
          classes = false;
          break;
        }
      }
      if (classes && !distinct.empty()) {
        in_.label_kind = "classes";
        int32_t i = 0;
        for (auto& [v, code] : distinct) {
          code = i++;
          std::string name;
          table::AppendNumber(v, &name);
          in_.classes.push_back(name);
        }
        in_.label_class.reserve(in_.label_value.size());
        for (double v : in_.label_value)
          in_.label_class.push_back(std::isnan(v) ? -1 : distinct[v]);
        in_.label_value.clear();
      } else {
        in_.label_kind = "continuous";
      }
    } else {
      in_.label_kind = "classes";
      // Classes in name order, whatever order they were seen in.
      std::vector<int32_t> order(in_.classes.size());
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [this](int32_t a, int32_t b) {
        return in_.classes[a] < in_.classes[b];
      });
      std::vector<int32_t> remap(order.size());
      std::vector<std::string> sorted;
      for (size_t i = 0; i < order.size(); ++i) {
        remap[order[i]] = static_cast<int32_t>(i);
        sorted.push_back(in_.classes[order[i]]);
      }
      in_.classes = std::move(sorted);
      for (int32_t& c : in_.label_class)
        if (c >= 0) c = remap[c];
    }
  }
  return std::move(in_);
}

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
  const auto cum = Cumulative(ratios);
  const uint64_t salt = Mix(spec.seed());
  // Rows of the fold part in the order folds are dealt, and how.
  std::vector<uint32_t> fold_order;
  bool fold_blocks = false, folds_done = false;
  const int k = spec.folds();

  if (s == "sequential") {
    auto sizes = ApportionRows(static_cast<int64_t>(n), ratios);
    size_t r = 0;
    for (size_t p = 0; p < sizes.size(); ++p)
      for (int64_t i = 0; i < sizes[p]; ++i)
        a.parts[r++] = static_cast<uint8_t>(p);
    fold_blocks = true;
  } else if (s == "random") {
    for (size_t r = 0; r < n; ++r)
      a.parts[r] = PartOf(Unit(Mix(salt + r)), cum);
  } else if (s == "shuffled") {
    std::vector<uint32_t> perm(n);
    std::iota(perm.begin(), perm.end(), 0);
    Rng rng(spec.seed());
    rng.Shuffle(&perm);
    auto sizes = ApportionRows(static_cast<int64_t>(n), ratios);
    size_t i = 0;
    for (size_t p = 0; p < sizes.size(); ++p)
      for (int64_t j = 0; j < sizes[p]; ++j)
        a.parts[perm[i++]] = static_cast<uint8_t>(p);
  } else if (s == "stratified") {
    // Strata: the classes, or deciles of a continuous label.
    std::vector<std::vector<uint32_t>> strata;
    if (in.label_kind == "classes") {
      if (in.classes.size() > kMaxStrata)
        return Bad(
            "label",
            StrCat("'", spec.label(), "' has ", in.classes.size(),
                   " classes; stratified splits take at most ", kMaxStrata));
      strata.resize(in.classes.size());
      for (size_t r = 0; r < n; ++r)
        if (in.label_class[r] >= 0) strata[in.label_class[r]].push_back(r);
    } else if (in.label_kind == "continuous") {
      std::vector<uint32_t> valid;
      for (size_t r = 0; r < n; ++r)
        if (!std::isnan(in.label_value[r])) valid.push_back(r);
      std::stable_sort(valid.begin(), valid.end(),
                       [&in](uint32_t x, uint32_t y) {
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
    std::vector<int64_t> sizes;
    for (const auto& st : strata)
      sizes.push_back(static_cast<int64_t>(st.size()));
    auto counts = StratifiedCounts(sizes, ratios);
    Rng rng(spec.seed());
    const int fp =
        k >= 2
            ? static_cast<int>(std::find(a.part_names.begin(),
                                         a.part_names.end(), spec.fold_part()) -
                               a.part_names.begin())
            : -1;
    for (size_t c = 0; c < strata.size(); ++c) {
      auto& rows = strata[c];
      rng.Shuffle(&rows);
      size_t i = 0;
      for (size_t p = 0; p < ratios.size(); ++p) {
        for (int64_t j = 0; j < counts[c][p]; ++j) {
          a.parts[rows[i]] = static_cast<uint8_t>(p);
          // Stratified folds: deal the fold part class by class.
          if (static_cast<int>(p) == fp) fold_order.push_back(rows[i]);
          ++i;
        }
      }
    }
    if (k >= 2) {
      a.folds.assign(n, kNoFold);
      FoldsInTurn(fold_order, k, &a.folds);
      folds_done = true;
    }
  } else if (s == "group") {
    std::vector<uint32_t> rows;
    for (size_t r = 0; r < n; ++r)
      if (in.group_valid[r]) rows.push_back(r);
    auto part = AssignGroups(in.group, rows, spec.seed(), ratios);
    for (uint32_t r : rows) a.parts[r] = part[in.group[r]];
  } else if (s == "time") {
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
        a.parts[r] = static_cast<uint8_t>(
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
        for (; i < end; ++i) a.parts[rows[i]] = static_cast<uint8_t>(p);
      }
    }
    fold_blocks = true;
    if (k >= 2) {
      for (uint32_t r : rows)
        if (a.part_names[a.parts[r]] == spec.fold_part())
          fold_order.push_back(r);
      a.folds.assign(n, kNoFold);
      FoldsInBlocks(fold_order, k, &a.folds);
      folds_done = true;
    }
  } else if (s == "hash") {
    for (size_t r = 0; r < n; ++r)
      if (in.column_valid[r])
        a.parts[r] = PartOf(Unit(Mix(in.key[r] ^ salt)), cum);
    if (k >= 2) {
      a.folds.assign(n, kNoFold);
      for (size_t r = 0; r < n; ++r) {
        if (a.parts[r] != kNoPart &&
            a.part_names[a.parts[r]] == spec.fold_part())
          a.folds[r] =
              static_cast<uint8_t>(Unit(Mix(in.key[r] ^ salt ^ kFoldSalt)) * k);
      }
      folds_done = true;
    }
  } else if (s == "explicit") {
    // Parts: the spec's names, else the column's values in canonical order.
    std::vector<std::string> names = a.part_names;
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
    a.part_names = names;
    for (size_t r = 0; r < n; ++r)
      if (in.named[r] >= 0)
        a.parts[r] = static_cast<uint8_t>(index[in.named[r]]);
    if (k >= 2 &&
        std::find(names.begin(), names.end(), spec.fold_part()) == names.end())
      return Bad("fold_part", StrCat("'", spec.fold_part(),
                                     "' is not a value of ", spec.column()));
  }

  if (k >= 2 && !folds_done) {
    if (s == "group") {
      // Whole groups per fold.
      std::vector<uint32_t> rows;
      for (size_t r = 0; r < n; ++r)
        if (a.parts[r] != kNoPart &&
            a.part_names[a.parts[r]] == spec.fold_part())
          rows.push_back(r);
      auto fold = AssignGroups(in.group, rows, spec.seed() ^ kFoldSalt,
                               std::vector<double>(k, 1.0 / k));
      a.folds.assign(n, kNoFold);
      for (uint32_t r : rows) a.folds[r] = fold[in.group[r]];
    } else {
      for (size_t r = 0; r < n; ++r)
        if (a.parts[r] != kNoPart &&
            a.part_names[a.parts[r]] == spec.fold_part())
          fold_order.push_back(r);
      a.folds.assign(n, kNoFold);
      if (fold_blocks) {
        FoldsInBlocks(fold_order, k, &a.folds);
      } else {
        Rng rng(spec.seed() ^ kFoldSalt);
        rng.Shuffle(&fold_order);
        FoldsInTurn(fold_order, k, &a.folds);
      }
    }
  }
  return a;
}

void Summarize(const v1::SplitSpec& spec, const SplitInputs& in,
               const Assignment& a, v1::Split* out) {
  const size_t P = a.part_names.size();
  const size_t n = static_cast<size_t>(in.rows);
  std::vector<int64_t> rows(P);
  int64_t assigned = 0;
  for (uint8_t p : a.parts)
    if (p != kNoPart) ++rows[p], ++assigned;
  out->set_num_rows(in.rows);
  out->set_unassigned_rows(in.rows - assigned);
  out->set_label_kind(in.label_kind);
  auto warn = [out](std::string code, std::string part, std::string message) {
    auto* w = out->add_warnings();
    w->set_code(std::move(code));
    w->set_part(std::move(part));
    w->set_message(std::move(message));
  };

  const double max_label_shift =
      spec.max_label_shift() > 0 ? spec.max_label_shift() : 0.05;
  const double max_mean_shift =
      spec.max_mean_shift() > 0 ? spec.max_mean_shift() : 0.1;
  const int64_t min_rows = spec.min_part_rows() > 0 ? spec.min_part_rows() : 30;
  const double max_ratio_error =
      spec.max_ratio_error() > 0 ? spec.max_ratio_error() : 0.05;

  // Label counts per part (and overall, of assigned rows).
  const size_t C = in.classes.size();
  std::vector<std::vector<int64_t>> class_rows(P + 1, std::vector<int64_t>(C));
  struct Moments {
    double sum = 0, sum2 = 0, min = INFINITY, max = -INFINITY;
    int64_t n = 0, missing = 0;
    void Add(double v) {
      if (std::isnan(v)) {
        ++missing;
        return;
      }
      sum += v, sum2 += v * v, ++n;
      min = std::min(min, v), max = std::max(max, v);
    }
    double Mean() const { return n > 0 ? sum / n : 0; }
    double Std() const {
      return n > 1 ? std::sqrt(std::max(0.0, (sum2 - sum * sum / n) / (n - 1)))
                   : 0;
    }
  };
  std::vector<Moments> moments(P + 1);
  for (size_t r = 0; r < n; ++r) {
    uint8_t p = a.parts[r];
    if (p == kNoPart) continue;
    if (in.label_kind == "classes" && in.label_class[r] >= 0) {
      ++class_rows[p][in.label_class[r]];
      ++class_rows[P][in.label_class[r]];
    } else if (in.label_kind == "continuous") {
      moments[p].Add(in.label_value[r]);
      moments[P].Add(in.label_value[r]);
    }
  }
  auto fractions = [](const std::vector<int64_t>& counts) {
    double total = std::accumulate(counts.begin(), counts.end(), 0.0);
    std::vector<double> f(counts.size());
    for (size_t i = 0; i < counts.size(); ++i)
      f[i] = total > 0 ? static_cast<double>(counts[i]) / total : 0;
    return f;
  };
  const auto overall = fractions(class_rows[P]);

  std::vector<int64_t> fold_rows;
  if (!a.folds.empty()) {
    fold_rows.assign(spec.folds(), 0);
    for (uint8_t f : a.folds)
      if (f != kNoFold) ++fold_rows[f];
  }

  for (size_t p = 0; p < P; ++p) {
    const std::string& name = a.part_names[p];
    auto* info = out->add_parts();
    info->set_name(name);
    double ratio =
        p < static_cast<size_t>(spec.parts_size()) ? spec.parts(p).ratio() : 0;
    info->set_ratio(ratio);
    info->set_rows(rows[p]);
    double fraction = assigned > 0 ? static_cast<double>(rows[p]) /
                                         static_cast<double>(assigned)
                                   : 0;
    info->set_fraction(fraction);
    if (name == spec.fold_part())
      for (int64_t f : fold_rows) info->add_fold_rows(f);
    if (rows[p] == 0) {
      warn("empty_part", name, StrCat("part '", name, "' has no rows"));
      continue;
    }
    if (rows[p] < min_rows) {
      warn("small_part", name,
           StrCat("part '", name, "' has ", rows[p], " rows (fewer than ",
                  min_rows, ")"));
    }
    if (ratio > 0 && std::abs(fraction - ratio) > max_ratio_error) {
      warn("uneven", name,
           StrCat("part '", name, "' holds ", fraction, " of the rows, not ",
                  ratio, " (off by more than ", max_ratio_error, ")"));
    }
    if (in.label_kind == "classes") {
      const auto f = fractions(class_rows[p]);
      double shift = 0;
      std::string worst;
      int missing = 0;
      std::string missing_names;
      for (size_t c = 0; c < C; ++c) {
        auto* lc = info->add_classes();
        lc->set_value(in.classes[c]);
        lc->set_count(class_rows[p][c]);
        lc->set_fraction(f[c]);
        if (class_rows[P][c] > 0 && class_rows[p][c] == 0) {
          if (++missing <= 5)
            StrAppend(&missing_names, missing > 1 ? ", " : "", "'",
                      in.classes[c], "' (", class_rows[P][c], " rows overall)");
        }
        if (std::abs(f[c] - overall[c]) > shift) {
          shift = std::abs(f[c] - overall[c]);
          worst = in.classes[c];
        }
      }
      if (missing > 0) {
        warn("missing_class", name,
             StrCat(missing, missing == 1 ? " class has" : " classes have",
                    " no rows in part '", name, "': ", missing_names,
                    missing > 5 ? ", ..." : ""));
      }
      if (shift > max_label_shift) {
        warn("label_shift", name,
             StrCat("class '", worst, "' is ", shift,
                    " away from its overall frequency in part '", name,
                    "' (threshold ", max_label_shift, ")"));
      }
    } else if (in.label_kind == "continuous") {
      const Moments& m = moments[p];
      info->set_label_mean(m.Mean());
      info->set_label_stddev(m.Std());
      info->set_label_min(m.n > 0 ? m.min : 0);
      info->set_label_max(m.n > 0 ? m.max : 0);
      info->set_label_missing(m.missing);
      double std_all = moments[P].Std();
      double shift =
          std_all > 0 ? std::abs(m.Mean() - moments[P].Mean()) / std_all : 0;
      if (shift > max_mean_shift) {
        warn("label_shift", name,
             StrCat("the label's mean in part '", name, "' is ", shift,
                    " standard deviations from the overall mean (threshold ",
                    max_mean_shift, ")"));
      }
    }
  }
  if (out->unassigned_rows() > 0) {
    const std::string& s = spec.strategy();
    std::string column = s == "stratified" ? spec.label()
                         : s == "group"    ? spec.group_column()
                                           : spec.column();
    warn("unassigned", "",
         StrCat(out->unassigned_rows(), " rows have no value in '", column,
                "' and are in no part"));
  }
  if (!spec.group_column().empty() && !in.group.empty()) {
    std::unordered_map<uint64_t, uint8_t> seen;  // 254: several parts.
    int64_t leaked = 0;
    for (size_t r = 0; r < n; ++r) {
      if (a.parts[r] == kNoPart || !in.group_valid[r]) continue;
      auto [it, added] = seen.try_emplace(in.group[r], a.parts[r]);
      if (!added && it->second != a.parts[r] && it->second != 254) {
        it->second = 254;
        ++leaked;
      }
    }
    if (leaked > 0) {
      warn("group_leak", "",
           StrCat(leaked, " groups of '", spec.group_column(),
                  "' have rows in more than one part"));
    }
  }
}

}  // namespace mlpipe::split
