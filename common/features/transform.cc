// Applying a fitted transform (TransformApplier): the batch path of prep and
// the single-row path of serving, both through the same per-value functions.
#include "common/features/transform.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string_view>
#include <unordered_map>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/features/transform_internal.h"
#include "common/table/typing.h"
#include "common/util/hash.h"
#include "common/util/strings.h"

namespace mlpipe::features {
namespace {

using internal::ApplyNumberStep;
using internal::kNaN;

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

// Writes the outputs of a numeric column for one value (NaN = missing).
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
        // Beyond int64 microseconds (or NaN): no time, so missing parts.
        out[i] =
            !(std::abs(x) < 9.2e18)
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

}  // namespace

namespace {

// The outputs a step writes for one value of its column (0: none of its own).
int StepWidth(const v1::TransformStep& s) {
  switch (s.kind_case()) {
    case v1::TransformStep::kOneHot:
      return s.one_hot().categories_size() + (s.one_hot().has_other() ? 1 : 0);
    case v1::TransformStep::kHash:
      return s.hash().buckets();
    case v1::TransformStep::kTokenHash:
      return s.token_hash().buckets();
    case v1::TransformStep::kTimestampParts:
      return s.timestamp_parts().parts_size();
    default:
      return 0;
  }
}

absl::Status CheckColumn(const v1::FittedColumn& c) {
  const int width = c.outputs_size();
  auto bad = [&](std::string_view why) {
    return absl::DataLossError(StrCat("transform column '", c.input(),
                                      "': ", why, " (", width, " outputs)"));
  };
  if (width < 1) return bad("no outputs");
  for (const auto& s : c.steps()) {
    if ((s.has_hash() && s.hash().buckets() < 1) ||
        (s.has_token_hash() && s.token_hash().buckets() < 1))
      return bad("a hash into no buckets");
    if (StepWidth(s) > width) return bad("a step writes more outputs");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckFitted(const v1::FittedTransform& fitted) {
  int64_t outputs = 0;
  for (const auto& c : fitted.columns()) {
    if (auto s = CheckColumn(c); !s.ok()) return s;
    outputs += c.outputs_size();
  }
  for (int i : fitted.selection().kept()) {
    if (i < 0 || i >= outputs) {
      return absl::DataLossError(
          StrCat("transform selection: output ", i, " of ", outputs, " kept"));
    }
  }
  return absl::OkStatus();
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
    if (numeric && !c.numbers_as_categories()) {
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
    const std::vector<std::string> texts =
        numeric ? internal::NumbersAsText(col).strings
                : std::vector<std::string>();
    const std::vector<std::string>& strings = numeric ? texts : col.strings;
    for (size_t r = 0; r < input.num_rows; ++r) {
      if (col.type == table::ColumnType::kUnknown || !col.IsValid(r)) {
        per_row[r] = missing_out.data();
        continue;
      }
      auto [it, added] = memo.try_emplace(strings[r]);
      if (added) {
        it->second.resize(width);
        ApplyString(c, &strings[r], it->second.data());
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
      if (c.numbers_as_categories()) {
        std::string text;
        if (!std::isnan(x)) table::AppendNumber(x, &text);
        ApplyString(c, std::isnan(x) ? nullptr : &text, dst);
      } else {
        ApplyNumber(c, x, dst);
      }
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
