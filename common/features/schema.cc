#include "common/features/schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "absl/strings/ascii.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"

namespace mlpipe::features {
namespace {

using google::protobuf::Value;

std::string Num(double v) {
  std::string s;
  StrAppend(&s, v);
  return s;
}

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f%%", 100 * fraction);
  return buf;
}

// Label distribution of a categorical column: value -> fraction of present.
std::map<std::string, double> Distribution(const v1::ColumnStatistics& c) {
  std::map<std::string, double> d;
  double present = static_cast<double>(c.count() - c.missing());
  if (present <= 0) return d;
  for (const auto& v : c.strings().top_values())
    d[v.value()] = v.count() / present;
  return d;
}

const v1::ColumnStatistics* Find(const v1::DatasetStatistics& s,
                                 const std::string& name) {
  for (const auto& c : s.columns()) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

}  // namespace

v1::DataSchema InferSchema(const v1::DatasetStatistics& stats,
                           const std::string& label,
                           const SchemaInferenceOptions& options) {
  v1::DataSchema schema;
  schema.set_label(label);
  for (const auto& c : stats.columns()) {
    auto* col = schema.add_columns();
    col->set_name(c.name());
    col->set_type(c.type());
    double missing =
        c.count() > 0 ? static_cast<double>(c.missing()) / c.count() : 0;
    col->set_max_missing_fraction(
        std::min(1.0, missing + options.missing_margin));
    if (c.has_numeric() && c.type() == v1::NUMERIC) {
      col->set_min(c.numeric().min());
      col->set_max(c.numeric().max());
    }
    if (c.type() == v1::CATEGORICAL && c.distinct_exact() &&
        c.distinct() <= options.max_listed_categories &&
        c.distinct() == c.strings().top_values_size()) {
      for (const auto& v : c.strings().top_values())
        col->add_categories(v.value());
      std::sort(col->mutable_categories()->begin(),
                col->mutable_categories()->end());
    }
  }
  return schema;
}

absl::StatusOr<v1::DataSchema> SchemaFromStruct(
    const google::protobuf::Struct& s) {
  v1::DataSchema schema;
  for (const auto& [key, v] : s.fields()) {
    if (key == "label") {
      schema.set_label(v.string_value());
    } else if (key == "max_label_shift") {
      schema.set_max_label_shift(v.number_value());
    } else if (key == "columns") {
      if (v.kind_case() != Value::kStructValue) {
        return absl::InvalidArgumentError(
            "schema.columns: expected a map of column -> rules");
      }
      std::map<std::string, const Value*> sorted;
      for (const auto& [name, rules] : v.struct_value().fields())
        sorted[name] = &rules;
      for (const auto& [name, rules] : sorted) {
        auto* col = schema.add_columns();
        col->set_name(name);
        col->set_max_missing_fraction(1);
        if (rules->kind_case() != Value::kStructValue) {
          return absl::InvalidArgumentError(
              StrCat("schema.columns.", name, ": expected a map"));
        }
        for (const auto& [rule, value] : rules->struct_value().fields()) {
          std::string f = StrCat("schema.columns.", name, ".", rule);
          if (rule == "type") {
            std::string t = value.string_value();
            if (t == "numeric")
              col->set_type(v1::NUMERIC);
            else if (t == "categorical")
              col->set_type(v1::CATEGORICAL);
            else if (t == "timestamp")
              col->set_type(v1::TIMESTAMP);
            else if (t == "text")
              col->set_type(v1::TEXT);
            else
              return absl::InvalidArgumentError(
                  StrCat(f, ": '", t,
                         "' is not numeric, categorical, timestamp or text"));
          } else if (rule == "min" || rule == "max" || rule == "max_missing") {
            if (value.kind_case() != Value::kNumberValue) {
              return absl::InvalidArgumentError(
                  StrCat(f, ": expected a number"));
            }
            if (rule == "min") col->set_min(value.number_value());
            if (rule == "max") col->set_max(value.number_value());
            if (rule == "max_missing")
              col->set_max_missing_fraction(value.number_value());
          } else if (rule == "categories") {
            if (value.kind_case() != Value::kListValue) {
              return absl::InvalidArgumentError(StrCat(f, ": expected a list"));
            }
            for (const auto& c : value.list_value().values())
              col->add_categories(c.string_value());
            std::sort(col->mutable_categories()->begin(),
                      col->mutable_categories()->end());
          } else if (rule == "not_in") {
            if (value.kind_case() != Value::kListValue) {
              return absl::InvalidArgumentError(
                  StrCat(f, ": expected a list of environments (SERVING)"));
            }
            for (const auto& e : value.list_value().values())
              col->add_not_in_environment(e.string_value());
          } else {
            return absl::InvalidArgumentError(
                StrCat(f,
                       ": unknown rule (type, min, max, max_missing, "
                       "categories, not_in)"));
          }
        }
      }
    } else {
      return absl::InvalidArgumentError(StrCat(
          "schema.", key, ": unknown field (columns, label, max_label_shift)"));
    }
  }
  return schema;
}

std::set<std::string> NotInEnvironment(const v1::DataSchema& schema,
                                       const std::string& environment) {
  std::set<std::string> out;
  if (environment.empty()) return out;
  if (environment == "SERVING" && !schema.label().empty())
    out.insert(schema.label());
  for (const auto& c : schema.columns()) {
    for (const auto& e : c.not_in_environment())
      if (e == environment) out.insert(c.name());
  }
  return out;
}

absl::StatusOr<v1::Anomaly::Kind> AnomalyKindFromName(const std::string& name) {
  v1::Anomaly::Kind kind;
  if (!v1::Anomaly::Kind_Parse(absl::AsciiStrToUpper(name), &kind) ||
      kind == v1::Anomaly::KIND_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        StrCat("'", name,
               "' is not an anomaly kind (missing_column, unexpected_column, "
               "type_mismatch, "
               "out_of_range, new_category, missing_rate, label_shift)"));
  }
  return kind;
}

v1::ValidationReport Validate(const v1::DataSchema& schema,
                              const v1::DatasetStatistics& stats,
                              const v1::DatasetStatistics* previous,
                              const std::set<v1::Anomaly::Kind>& fail_on) {
  v1::ValidationReport report;
  report.set_dataset(stats.dataset());
  report.set_version(stats.version());
  auto add = [&](v1::Anomaly::Kind kind, const std::string& column,
                 std::string description) {
    auto* a = report.add_anomalies();
    a->set_kind(kind);
    a->set_column(column);
    a->set_description(std::move(description));
    a->set_severity(fail_on.contains(kind) ? v1::Anomaly::ERROR
                                           : v1::Anomaly::WARNING);
  };
  for (const auto& col : schema.columns()) {
    const v1::ColumnStatistics* s = Find(stats, col.name());
    if (s == nullptr) {
      add(v1::Anomaly::MISSING_COLUMN, col.name(),
          "the column is in the schema but not in the data");
      continue;
    }
    if (col.type() != v1::COLUMN_TYPE_UNSPECIFIED &&
        s->type() != v1::COLUMN_TYPE_UNSPECIFIED && col.type() != s->type()) {
      add(v1::Anomaly::TYPE_MISMATCH, col.name(),
          StrCat("expected ", table::ColumnTypeName(col.type()), ", found ",
                 table::ColumnTypeName(s->type())));
    }
    double missing =
        s->count() > 0 ? static_cast<double>(s->missing()) / s->count() : 0;
    if (missing > col.max_missing_fraction() + 1e-12) {
      add(v1::Anomaly::MISSING_RATE, col.name(),
          StrCat("missing in ", Percent(missing), " of rows; at most ",
                 Percent(col.max_missing_fraction()), " allowed"));
    }
    if (s->has_numeric() && (col.has_min() || col.has_max())) {
      if (col.has_min() && s->numeric().min() < col.min()) {
        add(v1::Anomaly::OUT_OF_RANGE, col.name(),
            StrCat("minimum ", Num(s->numeric().min()),
                   " is below the allowed ", Num(col.min())));
      }
      if (col.has_max() && s->numeric().max() > col.max()) {
        add(v1::Anomaly::OUT_OF_RANGE, col.name(),
            StrCat("maximum ", Num(s->numeric().max()),
                   " is above the allowed ", Num(col.max())));
      }
    }
    if (col.categories_size() > 0 && s->has_strings()) {
      std::vector<std::string> unknown;
      for (const auto& v : s->strings().top_values()) {
        if (!std::binary_search(col.categories().begin(),
                                col.categories().end(), v.value())) {
          unknown.push_back(StrCat("'", v.value(), "' (", v.count(), " rows)"));
        }
      }
      if (!unknown.empty()) {
        std::string list;
        for (const auto& u : unknown)
          StrAppend(&list, list.empty() ? "" : ", ", u);
        add(v1::Anomaly::NEW_CATEGORY, col.name(),
            StrCat("values not in the schema: ", list));
      }
    }
  }
  for (const auto& c : stats.columns()) {
    bool known = false;
    for (const auto& col : schema.columns()) known |= col.name() == c.name();
    if (!known)
      add(v1::Anomaly::UNEXPECTED_COLUMN, c.name(),
          "the column is not in the schema");
  }
  if (previous != nullptr && !schema.label().empty()) {
    const auto* now = Find(stats, schema.label());
    const auto* before = Find(*previous, schema.label());
    if (now && before && now->has_strings() && before->has_strings()) {
      auto p = Distribution(*before), q = Distribution(*now);
      std::set<std::string> keys;
      for (const auto& [k, v] : p) keys.insert(k);
      for (const auto& [k, v] : q) keys.insert(k);
      double tvd = 0;
      for (const auto& k : keys) tvd += std::abs(p[k] - q[k]);
      tvd /= 2;
      double limit =
          schema.max_label_shift() > 0 ? schema.max_label_shift() : 0.1;
      if (tvd > limit) {
        add(v1::Anomaly::LABEL_SHIFT, schema.label(),
            StrCat("label distribution moved by ", Num(tvd),
                   " (total variation) since version ", previous->version(),
                   "; at most ", Num(limit), " allowed"));
      }
    }
  }
  report.set_passed(std::none_of(
      report.anomalies().begin(), report.anomalies().end(),
      [](const v1::Anomaly& a) { return a.severity() == v1::Anomaly::ERROR; }));
  return report;
}

}  // namespace mlpipe::features
