// A step's parameters (a google.protobuf.Struct from YAML) as the request
// proto of the service that runs the step, through protobuf's JSON mapping:
// one definition of every parameter (the proto), so a field added to a
// request works in YAML at once. Unlike the JSON parser, an unknown key is
// refused naming its full path and the keys that are known there.
#ifndef MLPIPE_COMMON_CONFIG_STRUCT_MESSAGE_H_
#define MLPIPE_COMMON_CONFIG_STRUCT_MESSAGE_H_

#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// How a pipeline step's parameters map onto the request proto of the
// service that runs it. Everything not named here is a field of the request
// under its proto (or JSON) name, so a field added to the proto works in
// YAML, in the CLI and over RPC at once.
struct ParamMapping {
  // Keys the caller reads itself (upstream step names, fail_on lists...),
  // with the kind each must have; left out of the request.
  std::map<std::string, google::protobuf::Value::KindCase> own;
  // Request fields the caller sets itself: not parameters.
  std::set<std::string> hidden;
  // YAML name -> proto field name, where they differ.
  std::map<std::string, std::string> renames;
  // Keys whose value changes shape on the way (e.g. ratios {train: 0.8} ->
  // parts [{name: train, ratio: 0.8}]); under the renamed name, if any.
  // An error is reported under "<path>.<key>"; one that starts with "."
  // names a key inside the value (".min.auc: expected a number").
  std::map<std::string, std::function<absl::StatusOr<google::protobuf::Value>(
                            const google::protobuf::Value&)>>
      reshape;
};

// Fills `out` from `params` by `mapping`. INVALID_ARGUMENT naming
// "<path>.<key>" for an unknown key at any depth (listing the known ones: the
// request's fields under their YAML names and the own keys), an own key of
// the wrong kind, or a value of the wrong type.
absl::Status ParamsToMessage(const google::protobuf::Struct& params,
                             const ParamMapping& mapping,
                             const std::string& path,
                             google::protobuf::Message* out);

}  // namespace mlpipe::config

#endif  // MLPIPE_COMMON_CONFIG_STRUCT_MESSAGE_H_
