#include "common/ml/collective.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string_view>
#include <thread>

#include "common/util/strings.h"
#include "common/util/subprocess.h"

namespace mlpipe::ml {

absl::StatusOr<std::unique_ptr<Tracker>> Tracker::Start(
    int workers, const std::string& host, const std::string& script) {
  if (workers < 1) return absl::InvalidArgumentError("workers: at least 1");
  if (access(script.c_str(), R_OK) != 0) {
    return absl::FailedPreconditionError(
        StrCat("XGBoost's tracker ", script,
               " is missing (Debian package python3-xgboost)"));
  }
  // Dies with the thread that owns the tracker; its stdout piped here.
  auto child = util::SpawnChild(
      {"python3", script, "--num-workers", std::to_string(workers), "--host-ip",
       host, "--log-level", "INFO"},
      false, true);
  if (!child.ok()) return child.status();
  std::unique_ptr<Tracker> t(new Tracker());
  t->host_ = host;
  t->workers_ = workers;
  t->pid_ = child->pid;
  // It prints its address between DMLC_TRACKER_ENV_START and _END.
  FILE* f = fdopen(child->stdout_fd, "r");
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
