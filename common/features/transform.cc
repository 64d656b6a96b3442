#include "common/features/transform.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/features/sketches.h"
#include "common/table/typing.h"
#include "common/util/ids.h"
#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::features {
namespace {

using google::protobuf::Value;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

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

// --- Applying: one function per step, shared by batch and row paths. ------

double ApplyNumberStep(const v1::TransformStep& s, double x) {
  switch (s.kind_case()) {
    case v1::TransformStep::kImpute:
      return std::isnan(x) ? s.impute().number() : x;
    case v1::TransformStep::kClip:
      return std::isnan(x) ? x
                           : std::clamp(x, s.clip().lower(), s.clip().upper());
    case v1::TransformStep::kLog1P:
      return std::log1p(x);
    case v1::TransformStep::kScale:
      return (x - s.scale().offset()) / s.scale().scale();
    case v1::TransformStep::kBucketize: {
      if (std::isnan(x)) return x;
      const auto& e = s.bucketize().inner_edges();
      return static_cast<double>(std::upper_bound(e.begin(), e.end(), x) -
                                 e.begin());
    }
    default:
      return x;
  }
}

// Writes the outputs of a numeric column for one value (NaN = missing).
double TimestampPart(int64_t micros, v1::TimestampPartsStep::Part part) {
  absl::CivilSecond t =
      absl::ToCivilSecond(absl::FromUnixMicros(micros), absl::UTCTimeZone());
  switch (part) {
    case v1::TimestampPartsStep::HOUR:
      return t.hour();
    case v1::TimestampPartsStep::MINUTE:
      return t.minute();
    case v1::TimestampPartsStep::DAY_OF_WEEK:
      return static_cast<double>(absl::GetWeekday(t));  // Monday is 0.
    case v1::TimestampPartsStep::MONTH:
      return t.month();
    case v1::TimestampPartsStep::DAY_OF_MONTH:
      return t.day();
    case v1::TimestampPartsStep::YEAR:
      return static_cast<double>(t.year());
    default:
      return kNaN;
  }
}

void ApplyNumber(const v1::FittedColumn& c, double x, double* out) {
  bool missing = std::isnan(x);
  int width = 1;
  bool parted = false;
  for (const auto& s : c.steps()) {
    if (s.has_timestamp_parts()) {  // Always the last step.
      const auto& parts = s.timestamp_parts().parts();
      width = parts.size();
      parted = true;
      for (int i = 0; i < width; ++i) {
        out[i] =
            std::isnan(x)
                ? kNaN
                : TimestampPart(
                      static_cast<int64_t>(x),
                      static_cast<v1::TimestampPartsStep::Part>(parts.Get(i)));
      }
      break;
    }
    x = ApplyNumberStep(s, x);
  }
  if (!parted) out[0] = x;
  if (c.outputs_size() > width) out[width] = missing ? 1.0 : 0.0;  // Indicator.
}

// Counts tokens (runs of >= 2 ASCII letters or digits, lower-cased) into
// buckets.
void CountTokens(const std::string& text, int buckets, double* out) {
  std::string token;
  auto flush = [&] {
    if (token.size() >= 2) out[StableHash(token) % buckets] += 1.0;
    token.clear();
  };
  for (char ch : text) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || ch == '_') {
      token.push_back(static_cast<char>(std::tolower(u)));
    } else {
      flush();
    }
  }
  flush();
}

// Writes the outputs of a string column for one value (nullptr = missing).
void ApplyString(const v1::FittedColumn& c, const std::string* value,
                 double* out) {
  std::fill(out, out + c.outputs_size(), 0.0);
  bool missing = value == nullptr;
  std::string filled;
  for (const auto& s : c.steps()) {
    switch (s.kind_case()) {
      case v1::TransformStep::kImpute:
        if (value == nullptr) {
          filled = s.impute().text();
          value = &filled;
        }
        break;
      case v1::TransformStep::kOneHot: {
        if (value == nullptr) break;
        const auto& cats = s.one_hot().categories();
        auto it = std::lower_bound(cats.begin(), cats.end(), *value);
        if (it != cats.end() && *it == *value) {
          out[it - cats.begin()] = 1.0;
        } else if (s.one_hot().has_other()) {
          out[cats.size()] = 1.0;
        }
        break;
      }
      case v1::TransformStep::kHash:
        if (value != nullptr)
          out[StableHash(*value) % s.hash().buckets()] = 1.0;
        break;
      case v1::TransformStep::kTokenHash:
        if (value != nullptr)
          CountTokens(*value, s.token_hash().buckets(), out);
        break;
      default:
        break;
    }
  }
  bool indicator = !c.steps().empty() && c.steps(0).has_impute() &&
                   c.steps(0).impute().add_indicator();
  if (indicator) out[c.outputs_size() - 1] = missing ? 1.0 : 0.0;
}

bool IsString(v1::ColumnType t) {
  return t == v1::CATEGORICAL || t == v1::TEXT;
}

// --- Parsing ---------------------------------------------------------------

absl::Status Bad(int i, std::string_view key, std::string_view why) {
  return absl::InvalidArgumentError(
      StrCat("transforms[", i, "].", key, ": ", why));
}

absl::StatusOr<std::pair<double, double>> Pair(const Value& v, int i,
                                               std::string_view key) {
  if (v.kind_case() != Value::kListValue || v.list_value().values_size() != 2 ||
      v.list_value().values(0).kind_case() != Value::kNumberValue ||
      v.list_value().values(1).kind_case() != Value::kNumberValue) {
    return Bad(i, key, "expected [low, high]");
  }
  double a = v.list_value().values(0).number_value(),
         b = v.list_value().values(1).number_value();
  if (a > b) return Bad(i, key, "low must not exceed high");
  return std::pair<double, double>{a, b};
}

// INVALID_ARGUMENT naming "<key>.<unknown>" when the map form of a step
// (`v` is a struct) has a key outside `known`.
absl::Status CheckKeys(const Value& v, int i, std::string_view key,
                       const std::vector<std::string_view>& known) {
  if (v.kind_case() != Value::kStructValue) return absl::OkStatus();
  for (const auto& [k, unused] : v.struct_value().fields()) {
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string list;
    for (auto n : known) StrAppend(&list, list.empty() ? "" : ", ", n);
    return Bad(i, StrCat(key, ".", k),
               StrCat("unknown key (known: ", list, ")"));
  }
  return absl::OkStatus();
}

// Sets the content hash (of the columns and the selection, serialized
// deterministically) and the id derived from it.
void Seal(v1::FittedTransform* fitted) {
  Sha256 h;
  for (const auto& c : fitted->columns()) h.Update(DeterministicBytes(c));
  if (fitted->has_selection())
    h.Update(DeterministicBytes(fitted->selection()));
  fitted->set_content_hash(h.HexDigest());
  fitted->set_id(StrCat("ft-", fitted->content_hash().substr(7, 16)));
}

}  // namespace

namespace {

// One parser per key of a transform entry: `v` is the key's value in entry
// `i`; errors name "transforms[i].<key>...".
using StepParser = absl::Status (*)(const Value& v, int i,
                                    const std::string& key,
                                    TransformSpec& spec);

absl::Status ParseColumns(const Value& v, int i, const std::string& key,
                          TransformSpec& spec) {
  if (v.kind_case() == Value::kStringValue) {
    spec.columns.push_back(v.string_value());
  } else if (v.kind_case() == Value::kListValue) {
    for (const auto& c : v.list_value().values()) {
      if (c.kind_case() != Value::kStringValue)
        return Bad(i, key, "expected column names");
      spec.columns.push_back(c.string_value());
    }
  } else {
    return Bad(i, key, "expected a list of column names");
  }
  return absl::OkStatus();
}

absl::Status ParseImpute(const Value& v, int i, const std::string& key,
                         TransformSpec& spec) {
  v1::ImputeStep imp;
  const Value* strategy = &v;
  if (v.kind_case() == Value::kStructValue) {
    const auto& f = v.struct_value().fields();
    auto s = f.find("strategy");
    if (s == f.end()) return Bad(i, "impute.strategy", "required");
    strategy = &s->second;
    if (auto ind = f.find("indicator"); ind != f.end())
      imp.set_add_indicator(ind->second.bool_value());
    if (auto val = f.find("value"); val != f.end()) {
      if (val->second.kind_case() == Value::kNumberValue)
        imp.set_number(val->second.number_value());
      else
        imp.set_text(val->second.string_value());
    }
  }
  std::string name = strategy->string_value();
  if (name == "mean")
    imp.set_strategy(v1::ImputeStep::MEAN);
  else if (name == "median")
    imp.set_strategy(v1::ImputeStep::MEDIAN);
  else if (name == "mode" || name == "most_frequent")
    imp.set_strategy(v1::ImputeStep::MODE);
  else if (name == "constant")
    imp.set_strategy(v1::ImputeStep::CONSTANT);
  else
    return Bad(i, "impute",
               StrCat("'", name, "' is not mean, median, mode or constant"));
  spec.impute = imp;
  return absl::OkStatus();
}

absl::Status ParseClip(const Value& v, int i, const std::string& key,
                       TransformSpec& spec) {
  if (v.kind_case() != Value::kStructValue)
    return Bad(i, key, "expected {quantiles: [lo, hi]} or {bounds: [lo, hi]}");
  for (const auto& [k2, v2] : v.struct_value().fields()) {
    auto p = Pair(v2, i, StrCat("clip.", k2));
    if (!p.ok()) return p.status();
    if (k2 == "quantiles") {
      if (p->first < 0 || p->second > 1)
        return Bad(i, "clip.quantiles", "must be within [0, 1]");
      spec.clip_quantiles = *p;
    } else if (k2 == "bounds") {
      spec.clip_bounds = *p;
    } else {
      return Bad(i, StrCat("clip.", k2), "unknown (quantiles or bounds)");
    }
  }
  return absl::OkStatus();
}

absl::Status ParseScale(const Value& v, int i, const std::string& key,
                        TransformSpec& spec) {
  if (v.string_value() != "standard" && v.string_value() != "minmax") {
    return Bad(i, key, "must be standard or minmax");
  }
  spec.scale = v.string_value();
  return absl::OkStatus();
}

absl::Status ParseLog1p(const Value& v, int i, const std::string& key,
                        TransformSpec& spec) {
  if (v.kind_case() != Value::kBoolValue)
    return Bad(i, key, "expected true or false");
  spec.log1p = v.bool_value();
  return absl::OkStatus();
}

// A count given as N or as {<field>: N} (e.g. `bucketize: 4` or
// `bucketize: {quantiles: 4}`), at least `min`.
absl::StatusOr<int> ParseCount(const Value& v, int i, const std::string& key,
                               const std::string& field, int min) {
  const Value* n = &v;
  if (v.kind_case() == Value::kStructValue) {
    auto f = v.struct_value().fields().find(field);
    if (f == v.struct_value().fields().end())
      return Bad(i, StrCat(key, ".", field), "required");
    n = &f->second;
  }
  if (n->kind_case() != Value::kNumberValue || n->number_value() < min) {
    return Bad(i, key, StrCat("expected a number of buckets >= ", min));
  }
  return static_cast<int>(n->number_value());
}

absl::Status ParseBucketize(const Value& v, int i, const std::string& key,
                            TransformSpec& spec) {
  auto n = ParseCount(v, i, key, "quantiles", 2);
  if (!n.ok()) return n.status();
  spec.bucketize_quantiles = *n;
  return absl::OkStatus();
}

absl::Status ParseOneHot(const Value& v, int i, const std::string& key,
                         TransformSpec& spec) {
  int max = 0;
  if (v.kind_case() == Value::kStructValue) {
    auto m = v.struct_value().fields().find("max_categories");
    if (m != v.struct_value().fields().end())
      max = static_cast<int>(m->second.number_value());
  } else if (v.kind_case() != Value::kBoolValue || !v.bool_value()) {
    return Bad(i, key, "expected true or {max_categories: N}");
  }
  if (max == 1)
    return Bad(i, "one_hot.max_categories", "must be 0 (no limit) or >= 2");
  spec.one_hot_max_categories = max;
  return absl::OkStatus();
}

absl::Status ParseHash(const Value& v, int i, const std::string& key,
                       TransformSpec& spec) {
  auto n = ParseCount(v, i, key, "buckets", 1);
  if (!n.ok()) return n.status();
  spec.hash_buckets = *n;
  return absl::OkStatus();
}

absl::Status ParseTimestampParts(const Value& v, int i, const std::string& key,
                                 TransformSpec& spec) {
  if (v.kind_case() != Value::kListValue || v.list_value().values().empty())
    return Bad(i, key, "expected a list such as [hour, day_of_week, month]");
  for (const auto& p : v.list_value().values()) {
    v1::TimestampPartsStep::Part part;
    std::string upper = p.string_value();
    for (auto& ch : upper) ch = static_cast<char>(std::toupper(ch));
    if (!v1::TimestampPartsStep::Part_Parse(upper, &part)) {
      return Bad(i, key,
                 StrCat("'", p.string_value(),
                        "' is not hour, minute, day_of_week, "
                        "day_of_month, month or year"));
    }
    spec.timestamp_parts.push_back(part);
  }
  return absl::OkStatus();
}

absl::Status ParseTokens(const Value& v, int i, const std::string& key,
                         TransformSpec& spec) {
  const Value* n = &v;
  if (v.kind_case() == Value::kStructValue) {
    auto b = v.struct_value().fields().find("buckets");
    if (b == v.struct_value().fields().end())
      return Bad(i, "tokens.buckets", "required");
    n = &b->second;
  }
  if (n->kind_case() != Value::kNumberValue || n->number_value() < 1)
    return Bad(i, key, "expected a number of buckets >= 1");
  spec.token_buckets = static_cast<int>(n->number_value());
  return absl::OkStatus();
}

// The combinations a transform entry cannot have.
absl::Status CheckCombination(const TransformSpec& spec, int i) {
  if (spec.columns.empty()) return Bad(i, "columns", "required");
  if (spec.clip_bounds && spec.clip_quantiles)
    return Bad(i, "clip", "give quantiles or bounds, not both");
  if ((spec.one_hot_max_categories.has_value() + (spec.hash_buckets > 0) +
       (spec.token_buckets > 0)) > 1)
    return Bad(i, "one_hot", "use one of one_hot, hash and tokens");
  if (!spec.timestamp_parts.empty() &&
      (spec.clip_bounds || spec.clip_quantiles || spec.log1p ||
       !spec.scale.empty() || spec.bucketize_quantiles))
    return Bad(i, "timestamp_parts",
               "cannot be combined with clip, log1p, scale or bucketize");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<TransformSpec>> ParseTransformSpecs(
    const google::protobuf::ListValue& list) {
  // Each key's parser, and the keys of its map form.
  struct Step {
    StepParser parse;
    std::vector<std::string_view> keys;  // Empty: no map form.
  };
  static const auto* kSteps = new std::map<std::string, Step>{
      {"columns", {ParseColumns, {}}},
      {"impute", {ParseImpute, {"strategy", "indicator", "value"}}},
      {"clip", {ParseClip, {}}},
      {"scale", {ParseScale, {}}},
      {"log1p", {ParseLog1p, {}}},
      {"bucketize", {ParseBucketize, {"quantiles"}}},
      {"one_hot", {ParseOneHot, {"max_categories"}}},
      {"hash", {ParseHash, {"buckets"}}},
      {"timestamp_parts", {ParseTimestampParts, {}}},
      {"tokens", {ParseTokens, {"buckets"}}}};
  std::vector<TransformSpec> out;
  for (int i = 0; i < list.values_size(); ++i) {
    const Value& entry = list.values(i);
    if (entry.kind_case() != Value::kStructValue) {
      return absl::InvalidArgumentError(
          StrCat("transforms[", i, "]: expected a map"));
    }
    TransformSpec spec;
    for (const auto& [key, v] : entry.struct_value().fields()) {
      auto step = kSteps->find(key);
      if (step == kSteps->end()) {
        return Bad(i, key,
                   "unknown step (impute, clip, log1p, scale, bucketize, "
                   "one_hot, hash, tokens, timestamp_parts)");
      }
      if (!step->second.keys.empty()) {
        if (auto s = CheckKeys(v, i, key, step->second.keys); !s.ok()) return s;
      }
      if (auto s = step->second.parse(v, i, key, spec); !s.ok()) return s;
    }
    if (auto s = CheckCombination(spec, i); !s.ok()) return s;
    out.push_back(std::move(spec));
  }
  return out;
}

absl::StatusOr<v1::FittedTransform> FitTransform(
    const std::vector<TransformSpec>& specs, const table::Table& training) {
  v1::FittedTransform fitted;
  std::set<std::string> seen;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TransformSpec& spec = specs[i];
    for (const auto& name : spec.columns) {
      auto bad = [&](std::string_view why) {
        return absl::InvalidArgumentError(
            StrCat("transforms[", i, "] column '", name, "': ", why));
      };
      int idx = training.Find(name);
      if (idx < 0) return bad("no such column in the training data");
      if (!seen.insert(name).second) return bad("transformed twice");
      const table::Column& col = training.columns[idx];
      v1::FittedColumn* fc = fitted.add_columns();
      fc->set_input(name);
      fc->set_input_type(static_cast<v1::ColumnType>(col.type));
      const size_t n = col.size();
      if (col.type == table::ColumnType::kNumeric ||
          col.type == table::ColumnType::kTimestamp) {
        if (spec.one_hot_max_categories || spec.hash_buckets ||
            spec.token_buckets) {
          return bad("one_hot, hash and tokens apply to string columns");
        }
        if (!spec.timestamp_parts.empty() &&
            col.type != table::ColumnType::kTimestamp) {
          return bad("timestamp_parts applies to timestamp columns");
        }
        std::vector<double> x(n);
        for (size_t r = 0; r < n; ++r) {
          x[r] = !col.IsValid(r) ? kNaN
                 : col.type == table::ColumnType::kNumeric
                     ? col.numbers[r]
                     : static_cast<double>(col.timestamps[r]);
        }
        auto add_step = [&](v1::TransformStep step) {
          for (double& v : x) v = ApplyNumberStep(step, v);
          *fc->add_steps() = std::move(step);
        };
        if (spec.impute) {
          v1::TransformStep step;
          *step.mutable_impute() = *spec.impute;
          std::vector<double> p = Present(x);
          if (p.empty() &&
              spec.impute->strategy() != v1::ImputeStep::CONSTANT) {
            return bad("cannot impute: every training value is missing");
          }
          switch (spec.impute->strategy()) {
            case v1::ImputeStep::MEAN: {
              double sum = 0;
              for (double v : p) sum += v;
              step.mutable_impute()->set_number(sum /
                                                static_cast<double>(p.size()));
              break;
            }
            case v1::ImputeStep::MEDIAN:
              step.mutable_impute()->set_number(Quantile(p, 0.5));
              break;
            case v1::ImputeStep::MODE: {
              std::sort(p.begin(), p.end());
              double best = p[0];
              size_t best_count = 0;
              for (size_t a = 0; a < p.size();) {
                size_t b = a;
                while (b < p.size() && p[b] == p[a]) ++b;
                if (b - a >
                    best_count) {  // Strictly more: ties keep the smallest.
                  best_count = b - a;
                  best = p[a];
                }
                a = b;
              }
              step.mutable_impute()->set_number(best);
              break;
            }
            case v1::ImputeStep::CONSTANT:
              break;
            default:
              break;
          }
          add_step(std::move(step));
        }
        if (spec.clip_quantiles || spec.clip_bounds) {
          v1::TransformStep step;
          if (spec.clip_bounds) {
            step.mutable_clip()->set_lower(spec.clip_bounds->first);
            step.mutable_clip()->set_upper(spec.clip_bounds->second);
          } else {
            std::vector<double> p = Present(x);
            if (p.empty()) return bad("cannot clip by quantiles: no values");
            step.mutable_clip()->set_lower(
                Quantile(p, spec.clip_quantiles->first));
            step.mutable_clip()->set_upper(
                Quantile(p, spec.clip_quantiles->second));
          }
          add_step(std::move(step));
        }
        if (spec.log1p) {
          for (double v : x) {
            if (!std::isnan(v) && v <= -1) {
              return bad(StrCat("log1p needs values > -1, found ", v));
            }
          }
          v1::TransformStep step;
          step.mutable_log1p();
          add_step(std::move(step));
        }
        if (!spec.scale.empty()) {
          std::vector<double> p = Present(x);
          if (p.empty()) return bad("cannot scale: no values");
          v1::TransformStep step;
          double offset, scale;
          if (spec.scale == "standard") {
            double sum = 0;
            for (double v : p) sum += v;
            offset = sum / static_cast<double>(p.size());
            double ss = 0;
            for (double v : p) ss += (v - offset) * (v - offset);
            scale = std::sqrt(
                ss / static_cast<double>(p.size()));  // Population std.
          } else {
            auto [lo, hi] = std::minmax_element(p.begin(), p.end());
            offset = *lo;
            scale = *hi - *lo;
          }
          step.mutable_scale()->set_offset(offset);
          step.mutable_scale()->set_scale(scale == 0 ? 1 : scale);
          add_step(std::move(step));
        }
        if (spec.bucketize_quantiles > 0) {
          std::vector<double> p = Present(x);
          if (p.empty()) return bad("cannot bucketize: no values");
          std::sort(p.begin(), p.end());
          // scikit-learn: edges at equally spaced percentiles, dropping edges
          // closer than 1e-8 to the one before.
          std::vector<double> edges;
          for (int b = 0; b <= spec.bucketize_quantiles; ++b) {
            double e = SortedQuantile(
                p, static_cast<double>(b) / spec.bucketize_quantiles);
            if (edges.empty() || e - edges.back() > 1e-8) edges.push_back(e);
          }
          v1::TransformStep step;
          for (size_t b = 1; b + 1 < edges.size(); ++b)
            step.mutable_bucketize()->add_inner_edges(edges[b]);
          add_step(std::move(step));
        }
        if (!spec.timestamp_parts.empty()) {
          v1::TransformStep step;
          for (auto part : spec.timestamp_parts) {
            step.mutable_timestamp_parts()->add_parts(part);
            std::string pn = v1::TimestampPartsStep::Part_Name(part);
            for (auto& ch : pn) ch = static_cast<char>(std::tolower(ch));
            fc->add_outputs(StrCat(name, ".", pn));
          }
          *fc->add_steps() = std::move(step);
        } else {
          fc->add_outputs(name);
        }
        if (spec.impute && spec.impute->add_indicator())
          fc->add_outputs(name + "_missing");
      } else if (table::IsStringType(col.type)) {
        if (!spec.scale.empty() || spec.log1p || spec.bucketize_quantiles ||
            spec.clip_bounds || spec.clip_quantiles ||
            !spec.timestamp_parts.empty()) {
          return bad(
              "clip, log1p, scale, bucketize and timestamp_parts apply to "
              "numeric or timestamp columns");
        }
        std::vector<const std::string*> x(n);
        for (size_t r = 0; r < n; ++r)
          x[r] = col.IsValid(r) ? &col.strings[r] : nullptr;
        // Counts of the present values, once for imputing and one-hot.
        std::unordered_map<std::string_view, int64_t> counts;
        int64_t missing = 0;
        for (const auto* v : x) {
          if (v) {
            ++counts[*v];
          } else {
            ++missing;
          }
        }
        std::string fill;
        if (spec.impute) {
          v1::TransformStep step;
          *step.mutable_impute() = *spec.impute;
          if (spec.impute->strategy() == v1::ImputeStep::MODE) {
            if (counts.empty())
              return bad("cannot impute: every training value is missing");
            std::string_view best;
            int64_t best_count = 0;
            for (const auto& [v, c] : counts) {  // Ties go to the smallest.
              if (c > best_count || (c == best_count && v < best)) {
                best = v;
                best_count = c;
              }
            }
            step.mutable_impute()->set_text(std::string(best));
          } else if (spec.impute->strategy() != v1::ImputeStep::CONSTANT) {
            return bad("strings are imputed with mode or constant");
          }
          fill = step.impute().text();
          if (missing > 0)
            counts[fill] += missing;  // `fill` outlives `counts`.
          *fc->add_steps() = std::move(step);
        }
        if (spec.hash_buckets > 0 || spec.token_buckets > 0) {
          v1::TransformStep step;
          int buckets = spec.hash_buckets;
          if (buckets > 0) {
            step.mutable_hash()->set_buckets(buckets);
          } else {
            buckets = spec.token_buckets;
            step.mutable_token_hash()->set_buckets(buckets);
          }
          *fc->add_steps() = std::move(step);
          for (int b = 0; b < buckets; ++b)
            fc->add_outputs(StrCat(name, spec.token_buckets ? "~" : "#", b));
        } else {
          std::vector<std::string> cats;
          bool other = false;
          int max = spec.one_hot_max_categories.value_or(0);
          if (max > 0 && static_cast<int>(counts.size()) > max) {
            // The max - 1 most frequent keep their own column; the rest share
            // one.
            std::vector<std::pair<int64_t, std::string>> by_count;
            for (const auto& [v, c] : counts)
              by_count.emplace_back(-c, std::string(v));
            std::sort(by_count.begin(), by_count.end());
            for (int k = 0; k < max - 1; ++k)
              cats.push_back(by_count[k].second);
            std::sort(cats.begin(), cats.end());
            other = true;
          } else {
            for (const auto& [v, c] : counts) cats.emplace_back(v);
            std::sort(cats.begin(), cats.end());
          }
          v1::TransformStep step;
          for (const auto& c : cats) {
            step.mutable_one_hot()->add_categories(c);
            fc->add_outputs(StrCat(name, "=", c));
          }
          step.mutable_one_hot()->set_has_other(other);
          if (other) fc->add_outputs(StrCat(name, "=__other__"));
          *fc->add_steps() = std::move(step);
        }
        if (spec.impute && spec.impute->add_indicator())
          fc->add_outputs(name + "_missing");
      } else {
        return bad("has no values to fit (its type is unknown)");
      }
    }
  }
  fitted.set_rows_fitted(static_cast<int64_t>(training.num_rows));
  Seal(&fitted);
  *fitted.mutable_created_at() =
      google::protobuf::util::TimeUtil::GetCurrentTime();
  return fitted;
}

TransformApplier::TransformApplier(v1::FittedTransform fitted)
    : fitted_(std::move(fitted)) {
  std::vector<std::string> all;
  for (const auto& c : fitted_.columns()) {
    offsets_.push_back(all.size());
    for (const auto& o : c.outputs()) all.push_back(o);
  }
  all_outputs_ = all.size();
  if (fitted_.has_selection()) {
    for (int i : fitted_.selection().kept()) names_.push_back(all[i]);
  } else {
    names_ = std::move(all);
  }
}

absl::Status SelectFeatures(const table::Table& training,
                            const std::string& label, const std::string& method,
                            int k, v1::FittedTransform* fitted) {
  if (method != "chi2" && method != "mutual_info") {
    return absl::InvalidArgumentError(
        StrCat("select: '", method, "' is not chi2 or mutual_info"));
  }
  if (k < 1) return absl::InvalidArgumentError("select_k: must be >= 1");
  int li = training.Find(label);
  if (label.empty() || li < 0) {
    return absl::InvalidArgumentError(
        StrCat("label: feature selection needs the label column ('", label,
               "' is not in the training data)"));
  }
  fitted->clear_selection();
  TransformApplier all(*fitted);
  auto x = all.ApplyBatch(training);
  if (!x.ok()) return x.status();
  // Class of each row (rows without a label are left out).
  const table::Column& lc = training.columns[li];
  std::map<std::string, int> class_ids;
  std::vector<int> y(training.num_rows, -1);
  for (size_t r = 0; r < training.num_rows; ++r) {
    if (!lc.IsValid(r)) continue;
    std::string v;
    if (table::IsStringType(lc.type)) {
      v = lc.strings[r];
    } else if (lc.type == table::ColumnType::kNumeric) {
      table::AppendNumber(lc.numbers[r], &v);
    } else {
      v = std::to_string(lc.timestamps[r]);
    }
    y[r] = class_ids.try_emplace(v, static_cast<int>(class_ids.size()))
               .first->second;
  }
  const size_t classes = class_ids.size();
  if (classes < 2) {
    return absl::InvalidArgumentError(
        StrCat("label: '", label, "' needs at least two classes to select by"));
  }
  std::vector<double> scores(x->columns.size());
  for (size_t j = 0; j < x->columns.size(); ++j) {
    const std::vector<double>& f = x->columns[j].numbers;
    if (method == "chi2") {
      // scikit-learn: observed = per-class sums of the feature; expected =
      // class frequency * feature total; chi2 = sum (o - e)^2 / e.
      std::vector<double> observed(classes, 0), count(classes, 0);
      double total = 0, n = 0;
      for (size_t r = 0; r < f.size(); ++r) {
        if (y[r] < 0) continue;
        if (f[r] < 0) {
          return absl::InvalidArgumentError(
              StrCat("select: chi2 needs non-negative features; '",
                     x->columns[j].name, "' has ", f[r]));
        }
        observed[y[r]] += f[r];
        count[y[r]] += 1;
        total += f[r];
        n += 1;
      }
      double chi2 = 0;
      for (size_t c = 0; c < classes; ++c) {
        double e = count[c] / n * total;
        if (e > 0) chi2 += (observed[c] - e) * (observed[c] - e) / e;
      }
      scores[j] = chi2;
    } else {
      // Bins: distinct values when there are at most 16, else equal-
      // frequency bins by rank.
      std::vector<std::pair<double, size_t>> v;
      for (size_t r = 0; r < f.size(); ++r) {
        if (y[r] >= 0 && !std::isnan(f[r])) v.emplace_back(f[r], r);
      }
      std::sort(v.begin(), v.end());
      std::vector<int> bin(f.size(), -1);
      int bins = 0;
      size_t distinct = 0;
      for (size_t i = 0; i < v.size(); ++i)
        distinct += (i == 0 || v[i].first != v[i - 1].first);
      for (size_t i = 0; i < v.size(); ++i) {
        if (distinct <= 16) {
          if (i > 0 && v[i].first != v[i - 1].first) ++bins;
          bin[v[i].second] = bins;
        } else {
          // Equal values share the bin of their first occurrence.
          size_t first = i;
          while (first > 0 && v[first - 1].first == v[i].first) --first;
          bin[v[i].second] = static_cast<int>(first * 16 / v.size());
        }
      }
      std::map<std::pair<int, int>, double> joint;
      std::map<int, double> pb;
      std::vector<double> pc(classes, 0);
      double n = static_cast<double>(v.size());
      for (const auto& [val, r] : v) {
        joint[{bin[r], y[r]}] += 1;
        pb[bin[r]] += 1;
        pc[y[r]] += 1;
      }
      double mi = 0;
      for (const auto& [bc, c] : joint)
        mi += c / n * std::log(c * n / (pb[bc.first] * pc[bc.second]));
      scores[j] = std::max(0.0, mi);
    }
  }
  std::vector<int> order(scores.size());
  for (size_t j = 0; j < order.size(); ++j) order[j] = static_cast<int>(j);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return scores[a] > scores[b]; });
  order.resize(std::min<size_t>(k, order.size()));
  std::sort(order.begin(), order.end());
  v1::FeatureSelection* sel = fitted->mutable_selection();
  sel->set_method(method);
  sel->set_label(label);
  for (int j : order) sel->add_kept(j);
  for (double sc : scores) sel->add_scores(sc);
  Seal(fitted);
  return absl::OkStatus();
}

absl::StatusOr<table::Table> TransformApplier::ApplyBatch(
    const table::Table& input) const {
  table::Table out;
  out.num_rows = input.num_rows;
  out.columns.resize(all_outputs_);
  for (int ci = 0; ci < fitted_.columns_size(); ++ci) {
    for (int k = 0; k < fitted_.columns(ci).outputs_size(); ++k)
      out.columns[offsets_[ci] + k].name = fitted_.columns(ci).outputs(k);
  }
  for (size_t j = 0; j < all_outputs_; ++j) {
    out.columns[j].type = table::ColumnType::kNumeric;
    out.columns[j].numbers.resize(input.num_rows);
    out.columns[j].valid.Resize(input.num_rows, true);
  }
  std::vector<double> row;
  for (int ci = 0; ci < fitted_.columns_size(); ++ci) {
    const v1::FittedColumn& c = fitted_.columns(ci);
    int idx = input.Find(c.input());
    if (idx < 0) {
      return absl::InvalidArgumentError(
          StrCat("column '", c.input(), "' is missing"));
    }
    const table::Column& col = input.columns[idx];
    const size_t width = c.outputs_size();
    row.resize(width);
    bool numeric = !IsString(c.input_type());
    if (numeric != (col.type == table::ColumnType::kNumeric ||
                    col.type == table::ColumnType::kTimestamp) &&
        col.type != table::ColumnType::kUnknown) {
      return absl::InvalidArgumentError(StrCat(
          "column '", c.input(), "' is ", table::ColumnTypeName(col.type),
          " but the transform was fitted on ",
          numeric ? "numbers" : "strings"));
    }
    if (numeric) {
      for (size_t r = 0; r < input.num_rows; ++r) {
        bool valid = col.type != table::ColumnType::kUnknown && col.IsValid(r);
        double x = !valid ? kNaN
                   : col.type == table::ColumnType::kNumeric
                       ? col.numbers[r]
                       : static_cast<double>(col.timestamps[r]);
        ApplyNumber(c, x, row.data());
        for (size_t k = 0; k < width; ++k)
          out.columns[offsets_[ci] + k].numbers[r] = row[k];
      }
      continue;
    }
    // Strings repeat: ApplyString runs once per distinct value (the same
    // function ApplyRow calls, so the features are the same bits), and the
    // outputs are then written one output column at a time.
    std::unordered_map<std::string_view, std::vector<double>> memo;
    std::vector<double> missing_out(width);
    ApplyString(c, nullptr, missing_out.data());
    std::vector<const double*> per_row(input.num_rows);
    for (size_t r = 0; r < input.num_rows; ++r) {
      if (col.type == table::ColumnType::kUnknown || !col.IsValid(r)) {
        per_row[r] = missing_out.data();
        continue;
      }
      auto [it, added] = memo.try_emplace(col.strings[r]);
      if (added) {
        it->second.resize(width);
        ApplyString(c, &col.strings[r], it->second.data());
      }
      per_row[r] = it->second.data();
    }
    for (size_t k = 0; k < width; ++k) {
      double* dst = out.columns[offsets_[ci] + k].numbers.data();
      for (size_t r = 0; r < input.num_rows; ++r) dst[r] = per_row[r][k];
    }
  }
  if (fitted_.has_selection()) {
    std::vector<table::Column> kept;
    for (int j : fitted_.selection().kept())
      kept.push_back(std::move(out.columns[j]));
    out.columns = std::move(kept);
  }
  return out;
}

absl::Status TransformApplier::ApplyRow(
    const std::map<std::string, RawValue>& fields,
    std::vector<double>* out) const {
  out->assign(all_outputs_, 0.0);
  for (int ci = 0; ci < fitted_.columns_size(); ++ci) {
    const v1::FittedColumn& c = fitted_.columns(ci);
    auto it = fields.find(c.input());
    if (it == fields.end()) {
      return absl::InvalidArgumentError(
          StrCat("field '", c.input(), "' is missing"));
    }
    double* dst = out->data() + offsets_[ci];
    const RawValue& v = it->second;
    if (!IsString(c.input_type())) {
      if (std::holds_alternative<std::string>(v)) {
        return absl::InvalidArgumentError(
            StrCat("field '", c.input(), "': expected a number"));
      }
      double x = std::holds_alternative<double>(v) ? std::get<double>(v) : kNaN;
      if (std::isinf(x)) {
        return absl::InvalidArgumentError(
            StrCat("field '", c.input(), "': not a finite number"));
      }
      ApplyNumber(c, x, dst);
    } else {
      if (std::holds_alternative<double>(v)) {
        return absl::InvalidArgumentError(
            StrCat("field '", c.input(), "': expected a string"));
      }
      ApplyString(c,
                  std::holds_alternative<std::string>(v)
                      ? &std::get<std::string>(v)
                      : nullptr,
                  dst);
    }
  }
  if (fitted_.has_selection()) {
    const auto& kept = fitted_.selection().kept();
    for (int i = 0; i < kept.size(); ++i) (*out)[i] = (*out)[kept[i]];
    out->resize(kept.size());
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::features
