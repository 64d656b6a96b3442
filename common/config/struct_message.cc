#include "common/config/struct_message.h"

#include <memory>
#include <set>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "common/util/strings.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace mlpipe::config {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Value;

bool FreeForm(const Descriptor* d) {
  const std::string& n = d->full_name();
  return n == "google.protobuf.Struct" || n == "google.protobuf.Value" ||
         n == "google.protobuf.ListValue" || n == "google.protobuf.Any";
}

const FieldDescriptor* FindField(const Descriptor* type,
                                 const std::string& key) {
  if (const auto* f = type->FindFieldByName(key)) return f;
  for (int i = 0; i < type->field_count(); ++i)
    if (type->field(i)->json_name() == key) return type->field(i);
  return nullptr;
}

absl::Status CheckValue(const Value& v, const FieldDescriptor* field,
                        const std::string& path);

absl::Status CheckMessage(const Value& v, const Descriptor* type,
                          const std::string& path) {
  if (FreeForm(type) || v.kind_case() != Value::kStructValue)
    return absl::OkStatus();  // Wrong kinds: the JSON mapping says so.
  return CheckKeys(v.struct_value(), type, path);
}

// A string for an enum field: one of its values in any case.
absl::Status CheckEnum(const Value& v, const FieldDescriptor* field,
                       const std::string& path) {
  if (v.kind_case() != Value::kStringValue) return absl::OkStatus();
  const auto* type = field->enum_type();
  if (type->FindValueByName(absl::AsciiStrToUpper(v.string_value())))
    return absl::OkStatus();
  std::string known;
  for (int i = 0; i < type->value_count(); ++i) {
    const std::string& name = type->value(i)->name();
    if (name.ends_with("_UNSPECIFIED")) continue;
    StrAppend(&known, known.empty() ? "" : ", ", absl::AsciiStrToLower(name));
  }
  return absl::InvalidArgumentError(
      StrCat(path, ": '", v.string_value(), "' is not one of: ", known));
}

absl::Status CheckValues(const Value& v, const FieldDescriptor* field,
                         const std::string& path,
                         absl::Status (*check)(const Value&,
                                               const FieldDescriptor*,
                                               const std::string&)) {
  if (!field->is_repeated() || v.kind_case() != Value::kListValue)
    return check(v, field, path);
  const auto& items = v.list_value().values();
  for (int i = 0; i < items.size(); ++i)
    if (auto s = check(items[i], field, StrCat(path, "[", i, "]")); !s.ok())
      return s;
  return absl::OkStatus();
}

absl::Status CheckValue(const Value& v, const FieldDescriptor* field,
                        const std::string& path) {
  if (field->type() == FieldDescriptor::TYPE_ENUM)
    return CheckValues(v, field, path, CheckEnum);
  if (field->is_map()) {
    const FieldDescriptor* value = field->message_type()->map_value();
    if (value->type() != FieldDescriptor::TYPE_MESSAGE ||
        v.kind_case() != Value::kStructValue)
      return absl::OkStatus();
    for (const auto& [key, item] : v.struct_value().fields()) {
      if (auto s =
              CheckMessage(item, value->message_type(), StrCat(path, ".", key));
          !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  if (field->type() != FieldDescriptor::TYPE_MESSAGE) return absl::OkStatus();
  return CheckValues(
      v, field, path,
      [](const Value& item, const FieldDescriptor* f, const std::string& at) {
        return CheckMessage(item, f->message_type(), at);
      });
}

// What a value of `field` is written as; "" for a nested message.
std::string Expected(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      return "true or false";
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
      return "a whole number";
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "a whole number >= 0";
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return "a number";
    case FieldDescriptor::CPPTYPE_STRING:
      return "a string";
    case FieldDescriptor::CPPTYPE_ENUM:
      return "one of the enum's values";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  const std::string& type = field->message_type()->full_name();
  if (type == "google.protobuf.Timestamp")
    return "an RFC 3339 time (2024-01-31T00:00:00Z)";
  if (type == "google.protobuf.Duration") return "a duration (30s, 1.5s)";
  return "";
}

// "expected <what>, not <value>" for the scalar at `inner` (".k",
// "[0].ratio") inside a value `v` of message field `field`; "" when the path
// does not lead to one.
std::string NestedTypeError(const FieldDescriptor* field,
                            std::string_view inner, Value v) {
  while (!inner.empty()) {
    if (inner.front() == '[') {
      const size_t end = inner.find(']');
      int i = 0;
      if (end == std::string_view::npos || v.kind_case() != Value::kListValue ||
          !absl::SimpleAtoi(absl::string_view(inner.data() + 1, end - 1), &i) ||
          i < 0 || i >= v.list_value().values_size())
        return "";
      v = Value(v.list_value().values(i));
      inner.remove_prefix(end + 1);
      continue;
    }
    if (inner.front() != '.' || field->message_type() == nullptr ||
        v.kind_case() != Value::kStructValue)
      return "";
    inner.remove_prefix(1);
    const size_t end = std::min(inner.find('.'), inner.find('['));
    const std::string key(inner.substr(0, end));
    inner.remove_prefix(std::min(end, inner.size()));
    field = FindField(field->message_type(), key);
    auto it = v.struct_value().fields().find(key);
    if (field == nullptr || it == v.struct_value().fields().end()) return "";
    v = Value(it->second);
  }
  const std::string expected = Expected(field);
  if (expected.empty() ||
      (field->is_repeated() && v.kind_case() == Value::kListValue))
    return "";
  std::string got;
  (void)google::protobuf::util::MessageToJsonString(v, &got);
  return StrCat("expected ", expected, ", not ", got);
}

// The JSON parser's error for the value at `at` (a field of `field`): what
// the field takes, or, inside a nested message, the parser's reason under
// the full path ("(parts[0].ratio): reason" -> "<at>[0].ratio: reason").
std::string TypeError(const FieldDescriptor* field, const std::string& at,
                      const Value& v, std::string_view why) {
  if (std::string expected = Expected(field); !expected.empty()) {
    std::string got;
    (void)google::protobuf::util::MessageToJsonString(v, &got);
    return StrCat(
        at, ": expected ",
        field->is_repeated() ? StrCat("a list, each ", expected) : expected,
        ", not ", got);
  }
  // "(parts[0].ratio): reason", or "(fit_on) row_end: reason".
  const size_t close = why.find(")");
  if (!why.starts_with("(") || close == std::string_view::npos)
    return StrCat(at, ": ", why);
  std::string inner(why.substr(1, close - 1));
  inner.erase(0, std::min(inner.size(), field->name().size()));
  std::string_view reason = why.substr(close + 1);
  if (reason.starts_with(": ")) {
    reason.remove_prefix(2);
  } else if (const size_t colon = reason.find(": ");
             reason.starts_with(" ") && colon != std::string_view::npos) {
    StrAppend(&inner, ".", reason.substr(1, colon - 1));
    reason.remove_prefix(colon + 2);
  }
  if (std::string expected = NestedTypeError(field, inner, v);
      !expected.empty())
    return StrCat(at, inner, ": ", expected);
  return StrCat(at, inner, ": ", reason);
}

// One key's value into `out` through the JSON mapping.
absl::Status MergeKey(const std::string& key, const Value& v,
                      const std::string& at, google::protobuf::Message* out) {
  google::protobuf::Struct one;
  (*one.mutable_fields())[key] = v;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(one, &json).ok())
    return absl::InvalidArgumentError(StrCat(at, ": not representable"));
  google::protobuf::util::JsonParseOptions options;
  options.case_insensitive_enum_parsing = true;
  std::unique_ptr<google::protobuf::Message> part(out->New());
  auto s =
      google::protobuf::util::JsonStringToMessage(json, part.get(), options);
  if (!s.ok()) {
    const FieldDescriptor* field = FindField(out->GetDescriptor(), key);
    return absl::InvalidArgumentError(
        field == nullptr ? StrCat(at, ": ", std::string(s.message()))
                         : TypeError(field, at, v, std::string(s.message())));
  }
  out->MergeFrom(*part);
  return absl::OkStatus();
}

std::string KindName(Value::KindCase k) {
  switch (k) {
    case Value::kNumberValue:
      return "a number";
    case Value::kStringValue:
      return "a string";
    case Value::kBoolValue:
      return "true or false";
    case Value::kStructValue:
      return "a mapping";
    case Value::kListValue:
      return "a list";
    default:
      return "a value";
  }
}

}  // namespace

absl::Status CheckKeys(const google::protobuf::Struct& params,
                       const Descriptor* type, const std::string& path) {
  for (const auto& [key, v] : params.fields()) {
    const std::string at = path.empty() ? key : StrCat(path, ".", key);
    const FieldDescriptor* field = FindField(type, key);
    if (field == nullptr) {
      std::string known;
      for (int i = 0; i < type->field_count(); ++i)
        StrAppend(&known, known.empty() ? "" : ", ", type->field(i)->name());
      return absl::InvalidArgumentError(
          StrCat(at, ": unknown key (known: ", known, ")"));
    }
    if (auto s = CheckValue(v, field, at); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParamsToMessage(const google::protobuf::Struct& params,
                             const ParamMapping& mapping,
                             const std::string& path,
                             google::protobuf::Message* out) {
  const Descriptor* type = out->GetDescriptor();
  std::set<std::string> renamed;  // Proto names that have a YAML name.
  for (const auto& [yaml, proto] : mapping.renames) renamed.insert(proto);
  for (const auto& [key, v] : params.fields()) {
    const std::string at = path.empty() ? key : StrCat(path, ".", key);
    if (auto own = mapping.own.find(key); own != mapping.own.end()) {
      if (v.kind_case() != own->second)
        return absl::InvalidArgumentError(
            StrCat(at, ": expected ", KindName(own->second)));
      continue;
    }
    auto rename = mapping.renames.find(key);
    const std::string field =
        rename == mapping.renames.end() ? key : rename->second;
    const FieldDescriptor* f = FindField(type, field);
    if (f == nullptr || mapping.hidden.contains(f->name()) ||
        (rename == mapping.renames.end() && renamed.contains(f->name()))) {
      std::string known;
      for (int i = 0; i < type->field_count(); ++i) {
        const std::string& name = type->field(i)->name();
        if (!renamed.contains(name) && !mapping.hidden.contains(name) &&
            !mapping.own.contains(name))
          StrAppend(&known, ", ", name);
      }
      for (const auto& [yaml, proto] : mapping.renames)
        StrAppend(&known, ", ", yaml);
      for (const auto& [own, kind] : mapping.own) StrAppend(&known, ", ", own);
      return absl::InvalidArgumentError(
          StrCat(at, ": unknown key (known: ", known.substr(2), ")"));
    }
    Value value = v;
    if (auto r = mapping.reshape.find(key); r != mapping.reshape.end()) {
      auto shaped = r->second(v);
      if (!shaped.ok())
        return absl::InvalidArgumentError(StrCat(
            at, absl::StartsWith(shaped.status().message(), ".") ? "" : ": ",
            shaped.status().message()));
      value = *std::move(shaped);
    }
    if (auto s = CheckValue(value, f, at); !s.ok()) return s;
    if (auto s = MergeKey(f->name(), value, at, out); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::config
