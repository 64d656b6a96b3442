// Helpers for tests: temporary directories, files and free ports.
#ifndef MLPIPE_COMMON_UTIL_TESTING_H_
#define MLPIPE_COMMON_UTIL_TESTING_H_

#include <string>
#include <vector>

namespace mlpipe::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its content when the
// object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes `content` to `path`, replacing it. Aborts the test binary on failure.
void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);
// Lines in a file (0 when it does not exist).
int CountLines(const std::string& path);
// Runs `command` with /bin/sh; its standard output, and its exit status in
// `*status` (-1 when it could not be run).
std::string Shell(const std::string& command, int* status);
// The same for a command that must succeed: throws std::runtime_error with
// the command and its output when it exits non-zero (gtest fails the test).
std::string Shell(const std::string& command);

// A TCP connection to 127.0.0.1:`port` (the caller closes it); -1 when
// nothing accepts there.
int ConnectLoopback(int port);

// A real redis-server (Debian's) on a loopback port the OS chose, without
// persistence, its files in a TempDir. Killed when destroyed. Throws
// std::runtime_error when it does not start within 10 s.
class RedisServer {
 public:
  // `config`: the text of a config file given first (e.g. a sentinel's);
  // `extra`: arguments after the defaults (e.g. {"--replicaof", ...}).
  explicit RedisServer(std::vector<std::string> extra = {},
                       const std::string& config = "");
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  int port() const { return port_; }
  std::string url() const {
    return "redis://127.0.0.1:" + std::to_string(port_);
  }
  // SIGKILL and wait: the port stops answering, the data is gone.
  void Kill();
  // Starts it again on the same port (empty).
  void Restart();
  // SIGSTOP / SIGCONT: the port accepts but nothing answers.
  void Freeze();
  void Thaw();

 private:
  void Start();
  TempDir dir_;
  std::vector<std::string> extra_;
  std::string config_file_;
  int port_ = 0;
  int pid_ = -1;
};

}  // namespace mlpipe::testing

#endif  // MLPIPE_COMMON_UTIL_TESTING_H_
