// Helpers shared by the files that implement assign.h (inputs.cc and
// assign.cc); not part of its API.
#ifndef MLPIPE_SERVICES_SPLIT_ASSIGN_INTERNAL_H_
#define MLPIPE_SERVICES_SPLIT_ASSIGN_INTERNAL_H_

#include <string_view>

#include "absl/status/status.h"
#include "common/util/strings.h"

namespace mlpipe::split::internal {

// INVALID_ARGUMENT "field: why".
inline absl::Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(StrCat(field, ": ", why));
}

}  // namespace mlpipe::split::internal

#endif  // MLPIPE_SERVICES_SPLIT_ASSIGN_INTERNAL_H_
