// Deterministic protobuf bytes, for content hashes and cache keys: map
// entries in key order, so equal messages always give equal bytes (within
// one protobuf version).
#ifndef MLPIPE_COMMON_UTIL_PROTO_BYTES_H_
#define MLPIPE_COMMON_UTIL_PROTO_BYTES_H_

#include <string>

#include "google/protobuf/message.h"

namespace mlpipe {

std::string DeterministicBytes(const google::protobuf::Message& m);

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_PROTO_BYTES_H_
