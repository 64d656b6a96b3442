// Parsing a pipeline's `transforms:` list into TransformSpecs: one parser per
// key of an entry, and the combinations an entry cannot have.
#include <algorithm>
#include <cctype>
#include <map>
#include <string_view>

#include "common/features/transform.h"
#include "common/util/strings.h"

namespace mlpipe::features {
namespace {

using google::protobuf::Value;

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

}  // namespace mlpipe::features
