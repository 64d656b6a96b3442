// Summarize (assign.h): counts, the label's distribution per part, and the
// warnings a split carries.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "common/util/strings.h"
#include "services/split/assign.h"

namespace mlpipe::split {
namespace {

// When a split warns: the spec's thresholds, or these defaults.
struct Thresholds {
  explicit Thresholds(const v1::SplitSpec& spec)
      : max_label_shift(spec.max_label_shift() > 0 ? spec.max_label_shift()
                                                   : 0.05),
        max_mean_shift(spec.max_mean_shift() > 0 ? spec.max_mean_shift() : 0.1),
        min_rows(spec.min_part_rows() > 0 ? spec.min_part_rows() : 30),
        max_ratio_error(spec.max_ratio_error() > 0 ? spec.max_ratio_error()
                                                   : 0.05) {}
  const double max_label_shift;
  const double max_mean_shift;
  const int64_t min_rows;
  const double max_ratio_error;
};

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

// The label of the assigned rows per part, the last entry of each over all
// parts: class counts (classes) or moments (continuous).
struct LabelStats {
  std::vector<std::vector<int64_t>> class_rows;
  std::vector<Moments> moments;
};

LabelStats CountLabels(const SplitInputs& in, const Assignment& a) {
  const size_t P = a.part_names.size();
  const size_t n = static_cast<size_t>(in.rows);
  LabelStats s{std::vector<std::vector<int64_t>>(
                   P + 1, std::vector<int64_t>(in.classes.size())),
               std::vector<Moments>(P + 1)};
  for (size_t r = 0; r < n; ++r) {
    uint8_t p = a.parts[r];
    if (p == kNoPart) continue;
    if (in.label_kind == "classes" && in.label_class[r] >= 0) {
      ++s.class_rows[p][in.label_class[r]];
      ++s.class_rows[P][in.label_class[r]];
    } else if (in.label_kind == "continuous") {
      s.moments[p].Add(in.label_value[r]);
      s.moments[P].Add(in.label_value[r]);
    }
  }
  return s;
}

std::vector<double> Fractions(const std::vector<int64_t>& counts) {
  double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  std::vector<double> f(counts.size());
  for (size_t i = 0; i < counts.size(); ++i)
    f[i] = total > 0 ? static_cast<double>(counts[i]) / total : 0;
  return f;
}

void Warn(v1::Split* out, std::string code, std::string part,
          std::string message) {
  auto* w = out->add_warnings();
  w->set_code(std::move(code));
  w->set_part(std::move(part));
  w->set_message(std::move(message));
}

// Part p's classes, and the missing_class / label_shift warnings.
void SummarizeClasses(const SplitInputs& in, const LabelStats& stats,
                      const std::vector<double>& overall, size_t p,
                      double max_label_shift, v1::SplitPartInfo* info,
                      v1::Split* out) {
  const std::string& name = info->name();
  const auto& class_rows = stats.class_rows;
  const size_t P = class_rows.size() - 1;
  const auto f = Fractions(class_rows[p]);
  double shift = 0;
  std::string worst;
  int missing = 0;
  std::string missing_names;
  for (size_t c = 0; c < in.classes.size(); ++c) {
    auto* lc = info->add_classes();
    lc->set_value(in.classes[c]);
    lc->set_count(class_rows[p][c]);
    lc->set_fraction(f[c]);
    if (class_rows[P][c] > 0 && class_rows[p][c] == 0) {
      if (++missing <= 5)
        StrAppend(&missing_names, missing > 1 ? ", " : "", "'", in.classes[c],
                  "' (", class_rows[P][c], " rows overall)");
    }
    if (std::abs(f[c] - overall[c]) > shift) {
      shift = std::abs(f[c] - overall[c]);
      worst = in.classes[c];
    }
  }
  if (missing > 0) {
    Warn(out, "missing_class", name,
         StrCat(missing, missing == 1 ? " class has" : " classes have",
                " no rows in part '", name, "': ", missing_names,
                missing > 5 ? ", ..." : ""));
  }
  if (shift > max_label_shift) {
    Warn(out, "label_shift", name,
         StrCat("class '", worst, "' is ", shift,
                " away from its overall frequency in part '", name,
                "' (threshold ", max_label_shift, ")"));
  }
}

// Part p's label moments, and the label_shift warning of its mean.
void SummarizeMoments(const LabelStats& stats, size_t p, double max_mean_shift,
                      v1::SplitPartInfo* info, v1::Split* out) {
  const std::string& name = info->name();
  const Moments& m = stats.moments[p];
  const Moments& all = stats.moments.back();
  info->set_label_mean(m.Mean());
  info->set_label_stddev(m.Std());
  info->set_label_min(m.n > 0 ? m.min : 0);
  info->set_label_max(m.n > 0 ? m.max : 0);
  info->set_label_missing(m.missing);
  double std_all = all.Std();
  double shift = std_all > 0 ? std::abs(m.Mean() - all.Mean()) / std_all : 0;
  if (shift > max_mean_shift) {
    Warn(out, "label_shift", name,
         StrCat("the label's mean in part '", name, "' is ", shift,
                " standard deviations from the overall mean (threshold ",
                max_mean_shift, ")"));
  }
}

// Rows per fold of the fold part; empty without folds.
std::vector<int64_t> FoldRows(const v1::SplitSpec& spec, const Assignment& a) {
  std::vector<int64_t> fold_rows;
  if (!a.folds.empty()) {
    fold_rows.assign(spec.folds(), 0);
    for (uint8_t f : a.folds)
      if (f != kNoFold) ++fold_rows[f];
  }
  return fold_rows;
}

void WarnUnassigned(const v1::SplitSpec& spec, v1::Split* out) {
  if (out->unassigned_rows() <= 0) return;
  const std::string& s = spec.strategy();
  std::string column = s == "stratified" ? spec.label()
                       : s == "group"    ? spec.group_column()
                                         : spec.column();
  Warn(out, "unassigned", "",
       StrCat(out->unassigned_rows(), " rows have no value in '", column,
              "' and are in no part"));
}

void WarnGroupLeak(const v1::SplitSpec& spec, const SplitInputs& in,
                   const Assignment& a, v1::Split* out) {
  if (spec.group_column().empty() || in.group.empty()) return;
  const size_t n = static_cast<size_t>(in.rows);
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
    Warn(out, "group_leak", "",
         StrCat(leaked, " groups of '", spec.group_column(),
                "' have rows in more than one part"));
  }
}

}  // namespace

void Summarize(const v1::SplitSpec& spec, const SplitInputs& in,
               const Assignment& a, v1::Split* out) {
  const size_t P = a.part_names.size();
  std::vector<int64_t> rows(P);
  int64_t assigned = 0;
  for (uint8_t p : a.parts)
    if (p != kNoPart) ++rows[p], ++assigned;
  out->set_num_rows(in.rows);
  out->set_unassigned_rows(in.rows - assigned);
  out->set_label_kind(in.label_kind);
  const Thresholds limits(spec);
  const LabelStats stats = CountLabels(in, a);
  const auto overall = Fractions(stats.class_rows[P]);
  const std::vector<int64_t> fold_rows = FoldRows(spec, a);

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
      Warn(out, "empty_part", name, StrCat("part '", name, "' has no rows"));
      continue;
    }
    if (rows[p] < limits.min_rows) {
      Warn(out, "small_part", name,
           StrCat("part '", name, "' has ", rows[p], " rows (fewer than ",
                  limits.min_rows, ")"));
    }
    if (ratio > 0 && std::abs(fraction - ratio) > limits.max_ratio_error) {
      Warn(out, "uneven", name,
           StrCat("part '", name, "' holds ", fraction, " of the rows, not ",
                  ratio, " (off by more than ", limits.max_ratio_error, ")"));
    }
    if (in.label_kind == "classes") {
      SummarizeClasses(in, stats, overall, p, limits.max_label_shift, info,
                       out);
    } else if (in.label_kind == "continuous") {
      SummarizeMoments(stats, p, limits.max_mean_shift, info, out);
    }
  }
  WarnUnassigned(spec, out);
  WarnGroupLeak(spec, in, a, out);
}

}  // namespace mlpipe::split
