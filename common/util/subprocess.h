// Child processes of a server (XGBoost's tracker, a training shard): started
// with fork and exec from a multithreaded process (only async-signal-safe
// calls in between), killed when the thread that started them ends
// (PR_SET_PDEATHSIG: that thread must outlive the child), and inheriting no
// descriptor but stdin, stdout, stderr, with the pipes asked for.
#ifndef MLPIPE_COMMON_UTIL_SUBPROCESS_H_
#define MLPIPE_COMMON_UTIL_SUBPROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mlpipe::util {

struct ChildProcess {
  pid_t pid = -1;
  int stdin_fd = -1;   // The parent's end of the child's stdin; -1: none.
  int stdout_fd = -1;  // The parent's end of the child's stdout; -1: none.
};

// Runs `argv` (argv[0] looked up in PATH when it has no '/'), its stdin and
// stdout piped to the parent when asked (else inherited). A child that
// cannot exec exits 127. RESOURCE_EXHAUSTED when a pipe or the fork fails.
absl::StatusOr<ChildProcess> SpawnChild(const std::vector<std::string>& argv,
                                        bool pipe_stdin, bool pipe_stdout);

}  // namespace mlpipe::util

#endif  // MLPIPE_COMMON_UTIL_SUBPROCESS_H_
