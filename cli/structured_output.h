// Machine-readable output (--output json | yaml) of protobuf messages, as
// kubectl and gcloud print theirs, for scripts:
//   - every field is present: zeros, false, "", empty lists and maps,
//     default enums; a message or `optional` field that is not set is null
//     (of a oneof, only the member that is set);
//   - integers are numbers (64-bit ones too; jq reads them exactly up to
//     2^53, and no count or time here comes near), other numbers are numbers
//     or "NaN" / "Infinity" / "-Infinity";
//   - enums by name; bytes as base64;
//   - times as RFC 3339 strings in UTC: google.protobuf.Timestamp, and the
//     int64 `X_micros` fields (microseconds since the epoch), printed as
//     `X_time` (`time_micros` as `time`; null when 0);
//   - keys are the .proto field names, in the order the .proto declares
//     them; map entries sorted by key;
//   - google.protobuf.Struct / Value / ListValue as the JSON they hold,
//     Duration as "1.5s", wrappers as their value.
#ifndef MLPIPE_CLI_STRUCTURED_OUTPUT_H_
#define MLPIPE_CLI_STRUCTURED_OUTPUT_H_

#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/message.h"

namespace mlpipe::cli {

// Indented JSON (no trailing newline).
std::string ToJson(const google::protobuf::Message& m);
// A YAML document of the same tree (block style; ends with a newline).
std::string ToYaml(const google::protobuf::Message& m);

// Several messages as one object, each under its name, in this order.
using NamedMessages =
    std::vector<std::pair<std::string, const google::protobuf::Message*>>;
std::string ToJson(const NamedMessages& parts);
std::string ToYaml(const NamedMessages& parts);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_STRUCTURED_OUTPUT_H_
