#include "clients/split_spec.h"

#include <algorithm>
#include <cmath>

#include "common/util/strings.h"

namespace mlpipe::split {
namespace {

bool IsRatioStrategy(const std::string& s) { return s != "explicit"; }

int PartRank(const std::string& name) {
  if (name == "train") return 0;
  if (name == "eval" || name == "validation" || name == "valid") return 1;
  if (name == "test") return 2;
  return 3;
}

absl::Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(StrCat(field, ": ", why));
}

}  // namespace

bool CanonicalPartLess(const std::string& a, const std::string& b) {
  int ra = PartRank(a), rb = PartRank(b);
  return ra != rb ? ra < rb : a < b;
}

absl::Status NormalizeSpec(v1::SplitSpec* spec) {
  static const char* kStrategies[] = {"sequential", "random",  "shuffled",
                                      "stratified", "group",   "time",
                                      "hash",       "explicit"};
  const std::string& s = spec->strategy();
  if (std::find(std::begin(kStrategies), std::end(kStrategies), s) ==
      std::end(kStrategies)) {
    return Bad("strategy",
               StrCat(s.empty() ? "required" : StrCat("'", s, "' is unknown"),
                      " (sequential, random, shuffled, stratified, group, "
                      "time, hash, explicit)"));
  }
  if (spec->feature_set().empty() == spec->dataset().empty())
    return Bad("feature_set, dataset", "give exactly one");
  if (spec->version() < 0) return Bad("version", "must be >= 0");
  if (spec->folds() == 1 || spec->folds() < 0 || spec->folds() > 100)
    return Bad("folds", "must be 0 (none) or 2..100");
  auto* parts = spec->mutable_parts();
  if (parts->empty() && IsRatioStrategy(s)) {
    if (spec->folds() >= 2) {
      auto* p = parts->Add();
      p->set_name("train");
      p->set_ratio(1);
    } else {
      auto* p = parts->Add();
      p->set_name("train");
      p->set_ratio(0.8);
      p = parts->Add();
      p->set_name("test");
      p->set_ratio(0.2);
    }
  }
  double sum = 0;
  for (int i = 0; i < parts->size(); ++i) {
    const auto& p = parts->Get(i);
    std::string field = StrCat("parts[", i, "]");
    if (p.name().empty()) return Bad(field, "name required");
    if (p.name().size() > 64) return Bad(field, "name longer than 64");
    for (int j = 0; j < i; ++j)
      if (parts->Get(j).name() == p.name())
        return Bad(field, StrCat("part '", p.name(), "' given twice"));
    if (!std::isfinite(p.ratio()) || p.ratio() < 0)
      return Bad(StrCat(field, ".ratio"), "must be a finite number >= 0");
    if (IsRatioStrategy(s) && p.ratio() <= 0)
      return Bad(StrCat(field, ".ratio"),
                 StrCat("part '", p.name(), "' needs a ratio > 0"));
    if (!IsRatioStrategy(s) && p.ratio() != 0)
      return Bad(StrCat(field, ".ratio"),
                 "explicit splits take part names only (the column decides)");
    sum += p.ratio();
  }
  if (IsRatioStrategy(s)) {
    if (parts->size() > 3)
      return Bad("parts", StrCat(parts->size(), " parts; give 2 or 3"));
    if (parts->size() == 1 && spec->folds() < 2)
      return Bad("parts", "a single part needs folds (k-fold); give 2 or 3");
    if (std::abs(sum - 1) > 1e-6)
      return Bad("parts", StrCat("ratios sum to ", std::round(sum * 1e6) / 1e6,
                                 "; they must sum to 1"));
  } else if (parts->size() > kMaxParts) {
    return Bad("parts", StrCat("at most ", kMaxParts, " parts"));
  }
  std::stable_sort(parts->begin(), parts->end(),
                   [](const auto& a, const auto& b) {
                     return CanonicalPartLess(a.name(), b.name());
                   });
  if (s == "stratified" && spec->label().empty())
    return Bad("label", "required by the stratified strategy");
  if ((s == "time" || s == "hash" || s == "explicit") && spec->column().empty())
    return Bad("column", StrCat("required by the ", s, " strategy"));
  if (s == "group" && spec->group_column().empty())
    return Bad("group_column", "required by the group strategy");
  if (!spec->cutoffs().empty()) {
    if (s != "time") return Bad("cutoffs", "only for the time strategy");
    if (spec->cutoffs_size() != parts->size() - 1)
      return Bad("cutoffs",
                 StrCat(parts->size(), " parts need ", parts->size() - 1,
                        " cut-offs, not ", spec->cutoffs_size()));
    for (int i = 1; i < spec->cutoffs_size(); ++i) {
      const auto &a = spec->cutoffs(i - 1), &b = spec->cutoffs(i);
      if (std::make_pair(b.seconds(), b.nanos()) <=
          std::make_pair(a.seconds(), a.nanos()))
        return Bad("cutoffs", "must be increasing");
    }
  }
  if (spec->folds() >= 2) {
    if (spec->fold_part().empty() && !parts->empty())
      spec->set_fold_part(parts->Get(0).name());
    bool known = parts->empty();  // Explicit: checked against the data.
    for (const auto& p : *parts) known |= p.name() == spec->fold_part();
    if (!known)
      return Bad("fold_part",
                 StrCat("'", spec->fold_part(), "' is not a part"));
  } else if (!spec->fold_part().empty()) {
    return Bad("fold_part", "needs folds >= 2");
  }
  if (spec->max_label_shift() < 0 || spec->max_mean_shift() < 0 ||
      spec->min_part_rows() < 0 || spec->max_ratio_error() < 0)
    return Bad("thresholds", "must be >= 0");
  return absl::OkStatus();
}

absl::Status CheckSplitSpec(const v1::SplitSpec& spec) {
  v1::SplitSpec copy = spec;
  // A feature set's label is the default; known only once it is read.
  if (copy.label().empty() && !copy.feature_set().empty())
    copy.set_label("(the feature set's label)");
  return NormalizeSpec(&copy);
}

const std::vector<std::string>& WarningCodes() {
  static const auto* codes = new std::vector<std::string>{
      "empty_part", "small_part", "missing_class", "label_shift",
      "group_leak", "uneven",     "unassigned",    "duplicate_rows"};
  return *codes;
}

bool IsWarningCode(const std::string& code) {
  const auto& codes = WarningCodes();
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

}  // namespace mlpipe::split
