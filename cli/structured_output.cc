#include "cli/structured_output.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "yaml-cpp/yaml.h"

namespace mlpipe::cli {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// The printed tree: numbers keep their text (exact, shortest), so JSON and
// YAML print the same digits.
struct Node {
  enum Kind { kNull, kBool, kNumber, kString, kList, kMap };
  Kind kind = kNull;
  bool flag = false;
  std::string text;         // kNumber: the digits; kString: the value.
  std::vector<Node> items;  // kList
  std::vector<std::pair<std::string, Node>> entries;  // kMap

  static Node Bool(bool b) {
    Node n;
    n.kind = kBool;
    n.flag = b;
    return n;
  }
  static Node Number(std::string digits) {
    Node n;
    n.kind = kNumber;
    n.text = std::move(digits);
    return n;
  }
  static Node String(std::string s) {
    Node n;
    n.kind = kString;
    n.text = std::move(s);
    return n;
  }
  static Node List() {
    Node n;
    n.kind = kList;
    return n;
  }
  static Node Map() {
    Node n;
    n.kind = kMap;
    return n;
  }
};

template <typename T>
Node Float(T v) {
  if (std::isnan(v)) return Node::String("NaN");
  if (std::isinf(v)) return Node::String(v > 0 ? "Infinity" : "-Infinity");
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);  // Shortest exact.
  return Node::Number(std::string(buf, r.ptr));
}

template <typename T>
Node Integer(T v) {
  return Node::Number(std::to_string(v));
}

Node Rfc3339(absl::Time t) {
  return Node::String(
      absl::FormatTime("%Y-%m-%d%ET%H:%M:%E*SZ", t, absl::UTCTimeZone()));
}

Node FromMessage(const Message& m);
Node FromScalar(const Message& m, const FieldDescriptor* f, int index);

Node FromStructValue(const google::protobuf::Value& v) {
  using google::protobuf::Value;
  switch (v.kind_case()) {
    case Value::kBoolValue:
      return Node::Bool(v.bool_value());
    case Value::kNumberValue:
      return Float(v.number_value());
    case Value::kStringValue:
      return Node::String(v.string_value());
    case Value::kStructValue: {
      Node n = Node::Map();
      std::vector<std::string> keys;
      for (const auto& [k, _] : v.struct_value().fields()) keys.push_back(k);
      std::sort(keys.begin(), keys.end());
      for (const auto& k : keys)
        n.entries.emplace_back(
            k, FromStructValue(v.struct_value().fields().at(k)));
      return n;
    }
    case Value::kListValue: {
      Node n = Node::List();
      for (const auto& item : v.list_value().values())
        n.items.push_back(FromStructValue(item));
      return n;
    }
    default:
      return Node();  // null_value, or nothing set.
  }
}

// Well-known types printed as what they stand for; false for the rest.
bool FromWellKnown(const Message& m, Node* out) {
  const std::string& name = m.GetDescriptor()->full_name();
  if (!name.starts_with("google.protobuf.")) return false;
  if (name == "google.protobuf.Timestamp") {
    google::protobuf::Timestamp t;
    t.CopyFrom(m);
    *out = Rfc3339(absl::FromUnixSeconds(t.seconds()) +
                   absl::Nanoseconds(t.nanos()));
    return true;
  }
  if (name == "google.protobuf.Duration") {
    google::protobuf::Duration d;
    d.CopyFrom(m);
    double s = static_cast<double>(d.seconds()) + d.nanos() * 1e-9;
    *out = Node::String(Float(s).text + "s");
    return true;
  }
  if (name == "google.protobuf.Value" || name == "google.protobuf.Struct" ||
      name == "google.protobuf.ListValue") {
    google::protobuf::Value v;
    if (name == "google.protobuf.Value") v.CopyFrom(m);
    if (name == "google.protobuf.Struct") v.mutable_struct_value()->CopyFrom(m);
    if (name == "google.protobuf.ListValue")
      v.mutable_list_value()->CopyFrom(m);
    *out = FromStructValue(v);
    return true;
  }
  if (name.ends_with("Value") && m.GetDescriptor()->field_count() == 1 &&
      m.GetDescriptor()->field(0)->name() == "value") {
    // DoubleValue, Int64Value, StringValue, ... (wrappers): the value.
    *out = FromScalar(m, m.GetDescriptor()->field(0), -1);
    return true;
  }
  return false;
}

// Element `index` of repeated `f`, or its value when `index` < 0.
Node FromScalar(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return Integer(rep ? r->GetRepeatedInt32(m, f, index)
                         : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return Integer(rep ? r->GetRepeatedInt64(m, f, index)
                         : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return Integer(rep ? r->GetRepeatedUInt32(m, f, index)
                         : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return Integer(rep ? r->GetRepeatedUInt64(m, f, index)
                         : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Float(rep ? r->GetRepeatedDouble(m, f, index)
                       : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return Float(rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return Node::Bool(rep ? r->GetRepeatedBool(m, f, index)
                            : r->GetBool(m, f));
    case FieldDescriptor::CPPTYPE_ENUM: {
      int v =
          rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      const auto* e = f->enum_type()->FindValueByNumber(v);
      return e != nullptr ? Node::String(e->name()) : Integer(v);
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s =
          rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
      if (f->type() == FieldDescriptor::TYPE_BYTES)
        return Node::String(absl::Base64Escape(s));
      return Node::String(std::move(s));
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return FromMessage(rep ? r->GetRepeatedMessage(m, f, index)
                             : r->GetMessage(m, f));
  }
  return Node();
}

// A map field: its entries by key (as text), sorted.
Node FromMap(const Message& m, const FieldDescriptor* f) {
  const Reflection* r = m.GetReflection();
  const FieldDescriptor* key = f->message_type()->map_key();
  const FieldDescriptor* value = f->message_type()->map_value();
  Node n = Node::Map();
  for (int i = 0; i < r->FieldSize(m, f); ++i) {
    const Message& entry = r->GetRepeatedMessage(m, f, i);
    Node k = FromScalar(entry, key, -1);
    n.entries.emplace_back(
        k.kind == Node::kBool ? (k.flag ? "true" : "false") : k.text,
        FromScalar(entry, value, -1));
  }
  std::sort(n.entries.begin(), n.entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return n;
}

// A field's key and value; false when it is left out (a oneof's members
// that are not set).
bool FromField(const Message& m, const FieldDescriptor* f, std::string* key,
               Node* out) {
  const Reflection* r = m.GetReflection();
  *key = f->name();
  if (f->is_map()) {
    *out = FromMap(m, f);
    return true;
  }
  if (f->is_repeated()) {
    *out = Node::List();
    for (int i = 0; i < r->FieldSize(m, f); ++i)
      out->items.push_back(FromScalar(m, f, i));
    return true;
  }
  if (f->real_containing_oneof() != nullptr && !r->HasField(m, f)) return false;
  if (f->has_presence() && !r->HasField(m, f)) {
    *out = Node();  // An unset message or optional field: null.
    return true;
  }
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT64 &&
      key->ends_with("_micros")) {
    // Microseconds since the epoch: a time ("time_micros" -> "time",
    // "start_micros" -> "start_time").
    key->resize(key->size() - std::string_view("_micros").size());
    if (*key != "time" && !key->ends_with("_time")) key->append("_time");
    const int64_t us = r->GetInt64(m, f);
    *out = us == 0 ? Node() : Rfc3339(absl::FromUnixMicros(us));
    return true;
  }
  *out = FromScalar(m, f, -1);
  return true;
}

Node FromMessage(const Message& m) {
  Node n;
  if (FromWellKnown(m, &n)) return n;
  n = Node::Map();
  const Descriptor* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    std::string key;
    Node value;
    if (FromField(m, d->field(i), &key, &value))
      n.entries.emplace_back(std::move(key), std::move(value));
  }
  return n;
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

void AppendJson(const Node& n, int indent, std::string* out) {
  const std::string pad(indent + 2, ' ');
  switch (n.kind) {
    case Node::kNull:
      out->append("null");
      return;
    case Node::kBool:
      out->append(n.flag ? "true" : "false");
      return;
    case Node::kNumber:
      out->append(n.text);
      return;
    case Node::kString:
      AppendJsonString(n.text, out);
      return;
    case Node::kList:
      if (n.items.empty()) {
        out->append("[]");
        return;
      }
      out->append("[\n");
      for (size_t i = 0; i < n.items.size(); ++i) {
        out->append(pad);
        AppendJson(n.items[i], indent + 2, out);
        out->append(i + 1 < n.items.size() ? ",\n" : "\n");
      }
      out->append(indent, ' ').append("]");
      return;
    case Node::kMap:
      if (n.entries.empty()) {
        out->append("{}");
        return;
      }
      out->append("{\n");
      for (size_t i = 0; i < n.entries.size(); ++i) {
        out->append(pad);
        AppendJsonString(n.entries[i].first, out);
        out->append(": ");
        AppendJson(n.entries[i].second, indent + 2, out);
        out->append(i + 1 < n.entries.size() ? ",\n" : "\n");
      }
      out->append(indent, ' ').append("}");
      return;
  }
}

// Whether `s` reads back as the same string when written plain in YAML:
// not empty, no indicator or space, and not a word or number YAML would
// read as something else.
bool PlainYamlString(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
          c == '/' || c == '-'))
      return false;
  }
  if (!std::isalpha(static_cast<unsigned char>(s[0])) && s[0] != '_' &&
      s[0] != '/')
    return false;
  std::string lower(s);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  static constexpr std::string_view kWords[] = {
      "true", "false", "yes", "no",   "on",   "off", "y",
      "n",    "null",  "nan", ".nan", ".inf", "inf"};
  for (std::string_view w : kWords) {
    if (lower == w) return false;
  }
  return true;
}

// `s`, plain when YAML reads it back as that string, else double-quoted.
void EmitYamlString(const std::string& s, YAML::Emitter* e) {
  if (PlainYamlString(s)) {
    *e << s;
  } else {
    *e << YAML::DoubleQuoted << s;
  }
}

void EmitYaml(const Node& n, YAML::Emitter* e) {
  switch (n.kind) {
    case Node::kNull:
      *e << YAML::Null;
      return;
    case Node::kBool:
      *e << (n.flag ? "true" : "false");
      return;
    case Node::kNumber:
      // YAML 1.1 readers (PyYAML) take 1e-07 for a string: 1.0e-07.
      if (n.text.find('e') != std::string::npos &&
          n.text.find('.') == std::string::npos) {
        std::string t = n.text;
        t.insert(t.find('e'), ".0");
        *e << t;
      } else {
        *e << n.text;
      }
      return;
    case Node::kString:
      EmitYamlString(n.text, e);
      return;
    case Node::kList:
      if (n.items.empty()) *e << YAML::Flow;
      *e << YAML::BeginSeq;
      for (const auto& item : n.items) EmitYaml(item, e);
      *e << YAML::EndSeq;
      return;
    case Node::kMap:
      if (n.entries.empty()) *e << YAML::Flow;
      *e << YAML::BeginMap;
      for (const auto& [k, v] : n.entries) {
        // Keys as strings too: a column named "yes" or "007" stays one.
        *e << YAML::Key;
        EmitYamlString(k, e);
        *e << YAML::Value;
        EmitYaml(v, e);
      }
      *e << YAML::EndMap;
      return;
  }
}

Node FromNamed(const NamedMessages& parts) {
  Node n = Node::Map();
  for (const auto& [name, m] : parts)
    n.entries.emplace_back(name, FromMessage(*m));
  return n;
}

std::string Json(const Node& n) {
  std::string out;
  AppendJson(n, 0, &out);
  return out;
}

std::string Yaml(const Node& n) {
  YAML::Emitter e;
  EmitYaml(n, &e);
  return std::string(e.c_str()) + "\n";
}

}  // namespace

std::string ToJson(const NamedMessages& parts) {
  return Json(FromNamed(parts));
}

std::string ToYaml(const NamedMessages& parts) {
  return Yaml(FromNamed(parts));
}

std::string ToJson(const google::protobuf::Message& m) {
  return Json(FromMessage(m));
}

std::string ToYaml(const google::protobuf::Message& m) {
  return Yaml(FromMessage(m));
}

}  // namespace mlpipe::cli
