// Opens a file under a directory without a window between checking the path
// and opening it (a directory swapped for a symlink mid-way cannot lead
// outside): openat2 with RESOLVE_BENEATH (symlinks may be followed only
// while they stay beneath), else, where the kernel has no openat2, a walk
// of openat calls that follows no symlink at all.
#ifndef MLPIPE_SERVICES_INGEST_OPEN_BENEATH_H_
#define MLPIPE_SERVICES_INGEST_OPEN_BENEATH_H_

#include <string>

#include "absl/status/statusor.h"

namespace mlpipe::ingest {

// A read-only descriptor of regular file `relative` (no "..", not absolute,
// no NUL) under directory `root`; the caller closes it. INVALID_ARGUMENT
// for a path that is not beneath `root` or not a regular file, NOT_FOUND
// when it does not exist.
absl::StatusOr<int> OpenBeneath(const std::string& root,
                                const std::string& relative);

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_OPEN_BENEATH_H_
