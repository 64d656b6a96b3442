#include "services/orchestrator/conditions.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "common/util/strings.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::Value;

struct Parsed {
  bool negate = false;
  std::string step, key;
  std::string op;  // "", "==" or "!="
  std::string literal;
};

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  size_t e = s.find_last_not_of(" \t");
  return b == std::string_view::npos ? "" : std::string(s.substr(b, e - b + 1));
}

absl::StatusOr<Parsed> Parse(std::string_view expr) {
  Parsed p;
  std::string s = Trim(expr);
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(StrCat(
        "when: '", expr, "': ", why,
        " (expected STEP.RESULT, !STEP.RESULT or STEP.RESULT == VALUE)"));
  };
  for (std::string op : {"==", "!="}) {
    size_t at = s.find(op);
    if (at != std::string::npos) {
      p.op = op;
      p.literal = Trim(s.substr(at + 2));
      s = Trim(s.substr(0, at));
      if (p.literal.empty()) return bad("nothing to compare with");
      break;
    }
  }
  if (!s.empty() && s[0] == '!') {
    if (!p.op.empty()) return bad("'!' cannot be combined with == or !=");
    p.negate = true;
    s = Trim(s.substr(1));
  }
  size_t dot = s.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == s.size()) {
    return bad("expected STEP.RESULT");
  }
  p.step = s.substr(0, dot);
  p.key = s.substr(dot + 1);
  return p;
}

bool Truthy(const Value& v) {
  switch (v.kind_case()) {
    case Value::kBoolValue:
      return v.bool_value();
    case Value::kNumberValue:
      return v.number_value() != 0;
    case Value::kStringValue:
      return !v.string_value().empty();
    case Value::kListValue:
      return v.list_value().values_size() > 0;
    case Value::kStructValue:
      return v.struct_value().fields_size() > 0;
    default:
      return false;
  }
}

bool Equal(const Value& v, std::string literal) {
  if (literal.size() >= 2 &&
      (literal.front() == '"' || literal.front() == '\'') &&
      literal.back() == literal.front()) {
    return v.kind_case() == Value::kStringValue &&
           v.string_value() == literal.substr(1, literal.size() - 2);
  }
  switch (v.kind_case()) {
    case Value::kBoolValue:
      return (literal == "true") == v.bool_value() &&
             (literal == "true" || literal == "false");
    case Value::kNumberValue: {
      char* end = nullptr;
      double d = std::strtod(literal.c_str(), &end);
      return end == literal.c_str() + literal.size() && d == v.number_value();
    }
    case Value::kStringValue:
      return v.string_value() == literal;
    case Value::kNullValue:
      return literal == "null";
    default:
      return false;
  }
}

// `name` against a declared result: exact, or with one '*' for any text.
bool Matches(const std::string& pattern, const std::string& name) {
  size_t star = pattern.find('*');
  if (star == std::string::npos) return pattern == name;
  std::string_view prefix(pattern.data(), star);
  std::string_view suffix(pattern.data() + star + 1, pattern.size() - star - 1);
  return name.size() >= prefix.size() + suffix.size() &&
         name.starts_with(prefix) && name.ends_with(suffix);
}

}  // namespace

absl::Status CheckCondition(std::string_view expr,
                            const std::set<std::string>& allowed,
                            const ResultNames& results) {
  auto p = Parse(expr);
  if (!p.ok()) return p.status();
  if (!allowed.contains(p->step)) {
    return absl::InvalidArgumentError(
        StrCat("when: '", expr, "' refers to step '", p->step,
               "', which this step does not come after"));
  }
  std::vector<std::string> known =
      results ? results(p->step) : std::vector<std::string>{};
  if (known.empty() || p->key == "state") return absl::OkStatus();
  std::string list;
  for (const auto& name : known) {
    if (Matches(name, p->key)) return absl::OkStatus();
    StrAppend(&list, list.empty() ? "" : ", ", name);
  }
  return absl::InvalidArgumentError(
      StrCat("when: '", expr, "': step '", p->step, "' has no result '", p->key,
             "' (its results: ", list, ", state)"));
}

absl::StatusOr<bool> EvaluateCondition(
    std::string_view expr,
    const std::map<std::string, v1::StepExecution>& steps) {
  auto p = Parse(expr);
  if (!p.ok()) return p.status();
  auto it = steps.find(p->step);
  if (it == steps.end()) {
    return absl::InvalidArgumentError(
        StrCat("when: '", expr, "': step '", p->step, "' has not finished"));
  }
  Value v;
  const auto& fields = it->second.results().fields();
  if (auto f = fields.find(p->key); f != fields.end()) {
    v = f->second;
  } else if (p->key == "state") {
    v.set_string_value(v1::StepState::State_Name(it->second.state()));
  } else {
    v.set_null_value({});
  }
  if (p->op.empty()) return Truthy(v) != p->negate;
  bool eq = Equal(v, p->literal);
  return p->op == "==" ? eq : !eq;
}

}  // namespace mlpipe::orchestrator
