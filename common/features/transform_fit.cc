// Fitting TransformSpecs to training data: each input column's steps in
// order, every step fitted on the output of the steps before it.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>
#include <string_view>
#include <unordered_map>

#include "common/features/transform.h"
#include "common/features/transform_internal.h"
#include "common/table/typing.h"
#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::features {
namespace internal {

void Seal(v1::FittedTransform* fitted) {
  Sha256 h;
  for (const auto& c : fitted->columns()) h.Update(DeterministicBytes(c));
  if (fitted->has_selection())
    h.Update(DeterministicBytes(fitted->selection()));
  fitted->set_content_hash(h.HexDigest());
  fitted->set_id(StrCat("ft-", fitted->content_hash().substr(7, 16)));
}

table::Column NumbersAsText(const table::Column& col) {
  table::Column out{.name = col.name, .type = table::ColumnType::kCategorical};
  out.strings.resize(col.size());
  out.valid.Resize(col.size(), false);
  if (col.type != table::ColumnType::kNumeric) return out;
  out.valid = col.valid;
  for (size_t r = 0; r < col.size(); ++r)
    if (col.IsValid(r)) table::AppendNumber(col.numbers[r], &out.strings[r]);
  return out;
}

}  // namespace internal

namespace {

using internal::ApplyNumberStep;
using internal::kNaN;

// numpy.quantile (linear interpolation) of sorted values.
double SortedQuantile(const std::vector<double>& sorted, double q) {
  double pos = q * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] +
         (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

// numpy.quantile (linear interpolation) of `v`, by selection (O(n)); `v`
// is reordered. REQUIRES: !v.empty().
double Quantile(std::vector<double>& v, double q) {
  double pos = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(pos));
  std::nth_element(v.begin(), v.begin() + lo, v.end());
  double a = v[lo];
  if (lo + 1 >= v.size() || pos == static_cast<double>(lo)) return a;
  double b = *std::min_element(v.begin() + lo + 1, v.end());
  return a + (pos - static_cast<double>(lo)) * (b - a);
}

std::vector<double> Present(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v) {
    if (!std::isnan(x)) out.push_back(x);
  }
  return out;
}

// REQUIRES: !v.empty().
double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// The most frequent value of `v`; `v` is sorted. REQUIRES: !v.empty().
double Mode(std::vector<double>& v) {
  std::sort(v.begin(), v.end());
  double best = v[0];
  size_t best_count = 0;
  for (size_t a = 0; a < v.size();) {
    size_t b = a;
    while (b < v.size() && v[b] == v[a]) ++b;
    if (b - a > best_count) {  // Strictly more: ties keep the smallest.
      best_count = b - a;
      best = v[a];
    }
    a = b;
  }
  return best;
}

// One input column being fitted: the transforms entry that names it, and the
// fitted column its steps and outputs go to.
struct ColumnFit {
  const TransformSpec& spec;
  size_t entry;             // Index of `spec` in the transforms list.
  const std::string& name;  // Of the input column.
  v1::FittedColumn* fitted;

  // INVALID_ARGUMENT naming the entry and the column.
  absl::Status Bad(std::string_view why) const {
    return absl::InvalidArgumentError(
        StrCat("transforms[", entry, "] column '", name, "': ", why));
  }
};

// --- Numeric and timestamp columns: steps fitted on doubles. ---------------

// The column's values as doubles (timestamps in micros; NaN = missing).
std::vector<double> NumberValues(const table::Column& col) {
  const size_t n = col.size();
  std::vector<double> x(n);
  for (size_t r = 0; r < n; ++r) {
    x[r] = !col.IsValid(r) ? kNaN
           : col.type == table::ColumnType::kNumeric
               ? col.numbers[r]
               : static_cast<double>(col.timestamps[r]);
  }
  return x;
}

absl::StatusOr<v1::TransformStep> FitNumberImpute(
    const ColumnFit& fit, const std::vector<double>& x) {
  const v1::ImputeStep& impute = *fit.spec.impute;
  v1::TransformStep step;
  *step.mutable_impute() = impute;
  std::vector<double> p = Present(x);
  if (p.empty() && impute.strategy() != v1::ImputeStep::CONSTANT) {
    return fit.Bad("cannot impute: every training value is missing");
  }
  switch (impute.strategy()) {
    case v1::ImputeStep::MEAN:
      step.mutable_impute()->set_number(Mean(p));
      break;
    case v1::ImputeStep::MEDIAN:
      step.mutable_impute()->set_number(Quantile(p, 0.5));
      break;
    case v1::ImputeStep::MODE:
      step.mutable_impute()->set_number(Mode(p));
      break;
    case v1::ImputeStep::CONSTANT:
      break;
    default:
      break;
  }
  return step;
}

absl::StatusOr<v1::TransformStep> FitClip(const ColumnFit& fit,
                                          const std::vector<double>& x) {
  const TransformSpec& spec = fit.spec;
  v1::TransformStep step;
  if (spec.clip_bounds) {
    step.mutable_clip()->set_lower(spec.clip_bounds->first);
    step.mutable_clip()->set_upper(spec.clip_bounds->second);
  } else {
    std::vector<double> p = Present(x);
    if (p.empty()) return fit.Bad("cannot clip by quantiles: no values");
    step.mutable_clip()->set_lower(Quantile(p, spec.clip_quantiles->first));
    step.mutable_clip()->set_upper(Quantile(p, spec.clip_quantiles->second));
  }
  return step;
}

absl::StatusOr<v1::TransformStep> FitLog1p(const ColumnFit& fit,
                                           const std::vector<double>& x) {
  for (double v : x) {
    if (!std::isnan(v) && v <= -1) {
      return fit.Bad(StrCat("log1p needs values > -1, found ", v));
    }
  }
  v1::TransformStep step;
  step.mutable_log1p();
  return step;
}

absl::StatusOr<v1::TransformStep> FitScale(const ColumnFit& fit,
                                           const std::vector<double>& x) {
  std::vector<double> p = Present(x);
  if (p.empty()) return fit.Bad("cannot scale: no values");
  double offset, scale;
  if (fit.spec.scale == "standard") {
    offset = Mean(p);
    double ss = 0;
    for (double v : p) ss += (v - offset) * (v - offset);
    scale = std::sqrt(ss / static_cast<double>(p.size()));  // Population std.
  } else {
    auto [lo, hi] = std::minmax_element(p.begin(), p.end());
    offset = *lo;
    scale = *hi - *lo;
  }
  v1::TransformStep step;
  step.mutable_scale()->set_offset(offset);
  step.mutable_scale()->set_scale(scale == 0 ? 1 : scale);
  return step;
}

absl::StatusOr<v1::TransformStep> FitBucketize(const ColumnFit& fit,
                                               const std::vector<double>& x) {
  std::vector<double> p = Present(x);
  if (p.empty()) return fit.Bad("cannot bucketize: no values");
  std::sort(p.begin(), p.end());
  // scikit-learn: edges at equally spaced percentiles, dropping edges
  // closer than 1e-8 to the one before.
  const int buckets = fit.spec.bucketize_quantiles;
  std::vector<double> edges;
  for (int b = 0; b <= buckets; ++b) {
    double e = SortedQuantile(p, static_cast<double>(b) / buckets);
    if (edges.empty() || e - edges.back() > 1e-8) edges.push_back(e);
  }
  v1::TransformStep step;
  for (size_t b = 1; b + 1 < edges.size(); ++b)
    step.mutable_bucketize()->add_inner_edges(edges[b]);
  return step;
}

// The outputs of a numeric column: its timestamp parts (after their step,
// always the last) or the value itself, then the missing indicator.
void AddNumberOutputs(const ColumnFit& fit) {
  const TransformSpec& spec = fit.spec;
  v1::FittedColumn* fc = fit.fitted;
  if (!spec.timestamp_parts.empty()) {
    v1::TransformStep step;
    for (auto part : spec.timestamp_parts) {
      step.mutable_timestamp_parts()->add_parts(part);
      std::string pn = v1::TimestampPartsStep::Part_Name(part);
      for (auto& ch : pn) ch = static_cast<char>(std::tolower(ch));
      fc->add_outputs(StrCat(fit.name, ".", pn));
    }
    *fc->add_steps() = std::move(step);
  } else {
    fc->add_outputs(fit.name);
  }
  if (spec.impute && spec.impute->add_indicator())
    fc->add_outputs(fit.name + "_missing");
}

absl::Status FitNumberColumn(const ColumnFit& fit, const table::Column& col) {
  const TransformSpec& spec = fit.spec;
  if (spec.one_hot_max_categories || spec.hash_buckets || spec.token_buckets) {
    return fit.Bad(
        "one_hot, hash and tokens apply to string and numeric columns");
  }
  if (!spec.timestamp_parts.empty() &&
      col.type != table::ColumnType::kTimestamp) {
    return fit.Bad("timestamp_parts applies to timestamp columns");
  }
  // The steps in the order they apply; each is fitted on `x` as the steps
  // before it left it.
  using StepFitter = absl::StatusOr<v1::TransformStep> (*)(
      const ColumnFit& fit, const std::vector<double>& x);
  const std::pair<bool, StepFitter> steps[] = {
      {spec.impute.has_value(), FitNumberImpute},
      {spec.clip_quantiles || spec.clip_bounds, FitClip},
      {spec.log1p, FitLog1p},
      {!spec.scale.empty(), FitScale},
      {spec.bucketize_quantiles > 0, FitBucketize}};
  std::vector<double> x = NumberValues(col);
  for (const auto& [wanted, fit_step] : steps) {
    if (!wanted) continue;
    auto step = fit_step(fit, x);
    if (!step.ok()) return step.status();
    for (double& v : x) v = ApplyNumberStep(*step, v);
    *fit.fitted->add_steps() = std::move(*step);
  }
  AddNumberOutputs(fit);
  return absl::OkStatus();
}

// --- String columns: steps fitted on the counts of the values. -------------

using ValueCounts = std::unordered_map<std::string_view, int64_t>;

absl::StatusOr<v1::TransformStep> FitStringImpute(const ColumnFit& fit,
                                                  const ValueCounts& counts) {
  v1::TransformStep step;
  *step.mutable_impute() = *fit.spec.impute;
  if (fit.spec.impute->strategy() == v1::ImputeStep::MODE) {
    if (counts.empty())
      return fit.Bad("cannot impute: every training value is missing");
    std::string_view best;
    int64_t best_count = 0;
    for (const auto& [v, c] : counts) {  // Ties go to the smallest.
      if (c > best_count || (c == best_count && v < best)) {
        best = v;
        best_count = c;
      }
    }
    step.mutable_impute()->set_text(std::string(best));
  } else if (fit.spec.impute->strategy() != v1::ImputeStep::CONSTANT) {
    return fit.Bad("strings are imputed with mode or constant");
  }
  return step;
}

// The hash or token-hash step and one output per bucket.
void AddHashing(const ColumnFit& fit) {
  const TransformSpec& spec = fit.spec;
  v1::TransformStep step;
  int buckets = spec.hash_buckets;
  if (buckets > 0) {
    step.mutable_hash()->set_buckets(buckets);
  } else {
    buckets = spec.token_buckets;
    step.mutable_token_hash()->set_buckets(buckets);
  }
  *fit.fitted->add_steps() = std::move(step);
  for (int b = 0; b < buckets; ++b)
    fit.fitted->add_outputs(
        StrCat(fit.name, spec.token_buckets ? "~" : "#", b));
}

// The one-hot step and one output per category (sorted), then "other".
void AddOneHot(const ColumnFit& fit, const ValueCounts& counts) {
  std::vector<std::string> cats;
  bool other = false;
  int max = fit.spec.one_hot_max_categories.value_or(0);
  if (max > 0 && static_cast<int>(counts.size()) > max) {
    // The max - 1 most frequent keep their own column; the rest share
    // one.
    std::vector<std::pair<int64_t, std::string>> by_count;
    for (const auto& [v, c] : counts) by_count.emplace_back(-c, std::string(v));
    std::sort(by_count.begin(), by_count.end());
    for (int k = 0; k < max - 1; ++k) cats.push_back(by_count[k].second);
    std::sort(cats.begin(), cats.end());
    other = true;
  } else {
    for (const auto& [v, c] : counts) cats.emplace_back(v);
    std::sort(cats.begin(), cats.end());
  }
  v1::TransformStep step;
  for (const auto& c : cats) {
    step.mutable_one_hot()->add_categories(c);
    fit.fitted->add_outputs(StrCat(fit.name, "=", c));
  }
  step.mutable_one_hot()->set_has_other(other);
  if (other) fit.fitted->add_outputs(StrCat(fit.name, "=__other__"));
  *fit.fitted->add_steps() = std::move(step);
}

absl::Status FitStringColumn(const ColumnFit& fit, const table::Column& col) {
  const TransformSpec& spec = fit.spec;
  if (!spec.scale.empty() || spec.log1p || spec.bucketize_quantiles ||
      spec.clip_bounds || spec.clip_quantiles ||
      !spec.timestamp_parts.empty()) {
    return fit.Bad(
        "clip, log1p, scale, bucketize and timestamp_parts apply to "
        "numeric or timestamp columns");
  }
  std::string fill;
  // Counts of the present values, once for imputing and one-hot.
  ValueCounts counts;
  int64_t missing = 0;
  for (size_t r = 0; r < col.size(); ++r) {
    if (col.IsValid(r)) {
      ++counts[col.strings[r]];
    } else {
      ++missing;
    }
  }
  if (spec.impute) {
    auto step = FitStringImpute(fit, counts);
    if (!step.ok()) return step.status();
    fill = step->impute().text();
    if (missing > 0) counts[fill] += missing;  // `fill` outlives `counts`.
    *fit.fitted->add_steps() = std::move(*step);
  }
  if (spec.hash_buckets > 0 || spec.token_buckets > 0) {
    AddHashing(fit);
  } else {
    AddOneHot(fit, counts);
  }
  if (spec.impute && spec.impute->add_indicator())
    fit.fitted->add_outputs(fit.name + "_missing");
  return absl::OkStatus();
}

absl::Status FitColumn(const ColumnFit& fit, const table::Column& col) {
  fit.fitted->set_input(fit.name);
  fit.fitted->set_input_type(static_cast<v1::ColumnType>(col.type));
  const TransformSpec& spec = fit.spec;
  if (col.type == table::ColumnType::kNumeric &&
      (spec.one_hot_max_categories || spec.hash_buckets ||
       spec.token_buckets)) {
    // Numbers as categories, as scikit-learn's OneHotEncoder takes them.
    fit.fitted->set_numbers_as_categories(true);
    return FitStringColumn(fit, internal::NumbersAsText(col));
  }
  if (col.type == table::ColumnType::kNumeric ||
      col.type == table::ColumnType::kTimestamp) {
    return FitNumberColumn(fit, col);
  }
  if (table::IsStringType(col.type)) return FitStringColumn(fit, col);
  return fit.Bad("has no values to fit (its type is unknown)");
}

}  // namespace

absl::StatusOr<v1::FittedTransform> FitTransform(
    const std::vector<TransformSpec>& specs, const table::Table& training) {
  v1::FittedTransform fitted;
  std::set<std::string> seen;
  for (size_t i = 0; i < specs.size(); ++i) {
    for (const auto& name : specs[i].columns) {
      ColumnFit fit{specs[i], i, name, nullptr};
      int idx = training.Find(name);
      if (idx < 0) return fit.Bad("no such column in the training data");
      if (!seen.insert(name).second) return fit.Bad("transformed twice");
      fit.fitted = fitted.add_columns();
      if (auto s = FitColumn(fit, training.columns[idx]); !s.ok()) return s;
    }
  }
  fitted.set_rows_fitted(static_cast<int64_t>(training.num_rows));
  internal::Seal(&fitted);
  *fitted.mutable_created_at() =
      google::protobuf::util::TimeUtil::GetCurrentTime();
  return fitted;
}

}  // namespace mlpipe::features
