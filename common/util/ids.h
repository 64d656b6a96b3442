#ifndef MLPIPE_COMMON_UTIL_IDS_H_
#define MLPIPE_COMMON_UTIL_IDS_H_

#include <string>
#include <string_view>

namespace mlpipe {

// A new unique id: `prefix` + 12 hex digits of milliseconds since the epoch +
// 8 random hex digits, so ids sort by creation time. Thread-safe.
std::string NewId(std::string_view prefix);

// True when `name` is a valid resource name: 1 to 128 characters from
// [A-Za-z0-9_.-], not starting with '.' or '-'.
bool IsValidName(std::string_view name);

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_IDS_H_
