#include "common/util/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace mlpipe::util {
namespace {

void CloseAll(std::initializer_list<int> fds) {
  for (int fd : fds)
    if (fd >= 0) close(fd);
}

}  // namespace

absl::StatusOr<ChildProcess> SpawnChild(const std::vector<std::string>& argv,
                                        bool pipe_stdin, bool pipe_stdout) {
  if (argv.empty()) return absl::InvalidArgumentError("argv: empty");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  if ((pipe_stdin && pipe2(in, O_CLOEXEC) != 0) ||
      (pipe_stdout && pipe2(out, O_CLOEXEC) != 0)) {
    CloseAll({in[0], in[1], out[0], out[1]});
    return absl::ResourceExhaustedError("cannot start a process (pipe)");
  }
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {  // Async-signal-safe calls only until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // The parent is already gone.
    if (in[0] >= 0) dup2(in[0], STDIN_FILENO);
    if (out[1] >= 0) dup2(out[1], STDOUT_FILENO);
    syscall(SYS_close_range, 3, ~0U, 0);
    execvp(args[0], args.data());
    _exit(127);
  }
  CloseAll({in[0], out[1]});
  if (pid < 0) {
    CloseAll({in[1], out[0]});
    return absl::ResourceExhaustedError("cannot start a process (fork)");
  }
  return ChildProcess{pid, in[1], out[0]};
}

}  // namespace mlpipe::util
