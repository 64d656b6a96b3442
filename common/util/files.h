// Small files read whole: keys, certificates, tokens, policies.
#ifndef MLPIPE_COMMON_UTIL_FILES_H_
#define MLPIPE_COMMON_UTIL_FILES_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace mlpipe {

// The file's bytes; INVALID_ARGUMENT "<what>: cannot read '<path>'" when it
// cannot be read or is empty.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          std::string_view what);
// A secret kept in a file (a bearer token): its text without surrounding
// whitespace; INVALID_ARGUMENT when there is none.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path,
                                          std::string_view what);

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_FILES_H_
