#include "common/config/struct_message.h"

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

absl::Status CheckValue(const Value& v, const FieldDescriptor* field,
                        const std::string& path) {
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
  if (field->is_repeated() && v.kind_case() == Value::kListValue) {
    const auto& items = v.list_value().values();
    for (int i = 0; i < items.size(); ++i) {
      if (auto s = CheckMessage(items[i], field->message_type(),
                                StrCat(path, "[", i, "]"));
          !s.ok())
        return s;
    }
    return absl::OkStatus();
  }
  return CheckMessage(v, field->message_type(), path);
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

absl::Status StructToMessage(const google::protobuf::Struct& params,
                             const std::string& path,
                             google::protobuf::Message* out) {
  if (auto s = CheckKeys(params, out->GetDescriptor(), path); !s.ok()) return s;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(params, &json).ok())
    return absl::InvalidArgumentError(StrCat(path, ": not representable"));
  auto s = google::protobuf::util::JsonStringToMessage(json, out);
  if (!s.ok()) {
    return absl::InvalidArgumentError(StrCat(
        path.empty() ? "" : StrCat(path, ": "), std::string(s.message())));
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::config
