// The disk space reserve every store keeps: writes are refused while the
// disk would be left with less free space than the reserve.
#ifndef MLPIPE_COMMON_STORAGE_FREE_SPACE_H_
#define MLPIPE_COMMON_STORAGE_FREE_SPACE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"

namespace mlpipe::storage {

// Free bytes (for unprivileged users) of the file system holding `path`;
// nullopt when it cannot be told.
std::optional<uint64_t> FreeBytes(const std::string& path);

// RESOURCE_EXHAUSTED "<path>: the disk is nearly full ...".
absl::Status NearlyFull(const std::string& path, uint64_t free,
                        uint64_t reserve);

// RESOURCE_EXHAUSTED when `free` (the disk's free bytes, when known) is less
// than `reserve` + `incoming`; OK when `reserve` is 0.
absl::Status CheckFreeSpace(const std::string& path,
                            std::optional<uint64_t> free, uint64_t reserve,
                            uint64_t incoming);

}  // namespace mlpipe::storage

#endif  // MLPIPE_COMMON_STORAGE_FREE_SPACE_H_
