// A step's parameters (a google.protobuf.Struct from YAML) as the request
// proto of the service that runs the step, through protobuf's JSON mapping:
// one definition of every parameter (the proto), so a field added to a
// request works in YAML at once. Unlike the JSON parser, an unknown key is
// refused naming its full path and the keys that are known there.
#ifndef MLPIPE_COMMON_CONFIG_STRUCT_MESSAGE_H_
#define MLPIPE_COMMON_CONFIG_STRUCT_MESSAGE_H_

#include <string>

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"

namespace mlpipe::config {

// INVALID_ARGUMENT "<path>.<key>: unknown key (known: ...)" for the first
// key, at any depth, that is no field of `type` (a field's proto name or
// its JSON name). Free-form fields (google.protobuf.Struct / Value) are
// not looked into.
absl::Status CheckKeys(const google::protobuf::Struct& params,
                       const google::protobuf::Descriptor* type,
                       const std::string& path);

// Fills `out` from `params`: CheckKeys, then the JSON mapping (whose type
// errors come back as INVALID_ARGUMENT under `path`).
absl::Status StructToMessage(const google::protobuf::Struct& params,
                             const std::string& path,
                             google::protobuf::Message* out);

}  // namespace mlpipe::config

#endif  // MLPIPE_COMMON_CONFIG_STRUCT_MESSAGE_H_
