// Protobuf bytes written by hand: deterministic ones, for content hashes and
// cache keys (map entries in key order, so equal messages always give equal
// bytes within one protobuf version), and single fields appended to a
// message's wire form without building the message.
#ifndef MLPIPE_COMMON_UTIL_PROTO_BYTES_H_
#define MLPIPE_COMMON_UTIL_PROTO_BYTES_H_

#include <string>
#include <string_view>

#include "google/protobuf/message.h"

namespace mlpipe {

std::string DeterministicBytes(const google::protobuf::Message& m);

// Appends field number `field` with `bytes` as its value, length-delimited
// (wire type 2: a string, bytes, or an embedded message's wire form).
void AppendLengthDelimited(std::string* out, int field, std::string_view bytes);

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_PROTO_BYTES_H_
