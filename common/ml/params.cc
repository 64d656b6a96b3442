#include "common/ml/params.h"

#include <cmath>

#include "common/util/strings.h"

namespace mlpipe::ml {

using google::protobuf::Value;

Params::Params(const google::protobuf::Struct& values, std::string prefix)
    : values_(values), prefix_(std::move(prefix)) {}

void Params::Fail(const std::string& name, const std::string& reason) {
  if (error_.ok()) {
    error_ = absl::InvalidArgumentError(
        StrCat(prefix_, prefix_.empty() ? "" : ".", name, ": ", reason));
  }
}

bool Params::Has(const std::string& name) const {
  return values_.fields().contains(name);
}

double Params::Number(const std::string& name, double fallback, double min,
                      double max) {
  known_.insert(name);
  auto it = values_.fields().find(name);
  if (it == values_.fields().end()) return fallback;
  if (it->second.kind_case() != Value::kNumberValue) {
    Fail(name, "must be a number");
    return fallback;
  }
  double v = it->second.number_value();
  if (!std::isfinite(v) || v < min || v > max) {
    Fail(name, StrCat("must be in [", min, ", ", max, "], got ", v));
    return fallback;
  }
  return v;
}

int64_t Params::Int(const std::string& name, int64_t fallback, int64_t min,
                    int64_t max) {
  double v = Number(name, static_cast<double>(fallback),
                    static_cast<double>(min), static_cast<double>(max));
  if (v != std::floor(v)) {
    Fail(name, StrCat("must be a whole number, got ", v));
    return fallback;
  }
  return static_cast<int64_t>(v);
}

bool Params::Bool(const std::string& name, bool fallback) {
  known_.insert(name);
  auto it = values_.fields().find(name);
  if (it == values_.fields().end()) return fallback;
  if (it->second.kind_case() != Value::kBoolValue) {
    Fail(name, "must be true or false");
    return fallback;
  }
  return it->second.bool_value();
}

std::string Params::Choice(const std::string& name, const std::string& fallback,
                           const std::vector<std::string>& allowed) {
  known_.insert(name);
  auto it = values_.fields().find(name);
  if (it == values_.fields().end()) return fallback;
  std::string list;
  for (const auto& a : allowed) StrAppend(&list, list.empty() ? "" : ", ", a);
  if (it->second.kind_case() != Value::kStringValue) {
    Fail(name, StrCat("must be one of ", list));
    return fallback;
  }
  for (const auto& a : allowed) {
    if (a == it->second.string_value()) return a;
  }
  Fail(name, StrCat("must be one of ", list, ", got \"",
                    it->second.string_value(), "\""));
  return fallback;
}

absl::Status Params::Check() const {
  if (!error_.ok()) return error_;
  for (const auto& [name, value] : values_.fields()) {
    if (known_.contains(name)) continue;
    std::string list;
    for (const auto& k : known_) StrAppend(&list, list.empty() ? "" : ", ", k);
    return absl::InvalidArgumentError(
        StrCat(prefix_, prefix_.empty() ? "" : ".", name,
               ": unknown parameter (known: ", list, ")"));
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::ml
