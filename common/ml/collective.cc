#include "common/ml/collective.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string_view>
#include <thread>

#include "common/util/strings.h"

namespace mlpipe::ml {

absl::StatusOr<std::unique_ptr<Tracker>> Tracker::Start(
    int workers, const std::string& host, const std::string& script) {
  if (workers < 1) return absl::InvalidArgumentError("workers: at least 1");
  if (access(script.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(
        StrCat("XGBoost's tracker ", script,
               " is missing (Debian package python3-xgboost)"));
  }
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  std::unique_ptr<Tracker> t(new Tracker());
  t->host_ = host;
  t->workers_ = workers;
  const std::string n = std::to_string(workers);
  const pid_t parent = getpid();
  t->pid_ = fork();
  if (t->pid_ == 0) {  // Async-signal-safe calls only until exec.
    // Dies with this process (PDEATHSIG follows the forking thread, which
    // owns the tracker); inherits no descriptor but its stdout.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(out[1], STDOUT_FILENO);
    syscall(SYS_close_range, 3, ~0U, 0);
    execlp("python3", "python3", script.c_str(), "--num-workers", n.c_str(),
           "--host-ip", host.c_str(), "--log-level", "INFO", nullptr);
    _exit(127);
  }
  close(out[1]);
  // It prints its address between DMLC_TRACKER_ENV_START and _END.
  FILE* f = fdopen(out[0], "r");
  char line[512];
  while (f != nullptr && fgets(line, sizeof(line), f) != nullptr) {
    std::string_view l(line);
    if (l.substr(0, 18) == "DMLC_TRACKER_PORT=")
      t->port_ = std::atoi(line + 18);
    if (l.substr(0, 20) == "DMLC_TRACKER_ENV_END") break;
  }
  // Whatever it prints later (workers' messages) is read and dropped, so it
  // never blocks on a full pipe nor dies of a closed one.
  t->drain_ = std::thread([f] {
    char rest[512];
    while (f != nullptr && fgets(rest, sizeof(rest), f) != nullptr) {
    }
    if (f != nullptr) fclose(f);
  });
  if (t->port_ <= 0) {
    return absl::InternalError(
        StrCat("XGBoost's tracker (", script, ") did not start"));
  }
  return t;
}

Tracker::~Tracker() {
  if (pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (drain_.joinable()) drain_.join();  // EOF once it has exited.
}

Collective Tracker::For(const std::string& task_id) const {
  return {host_, port_, workers_, task_id};
}

}  // namespace mlpipe::ml
