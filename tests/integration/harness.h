// Real processes for integration tests: the standalone server on OS-chosen
// ports, CLI invocations, and an HTTP GET for /metrics.
#ifndef MLPIPE_TESTS_INTEGRATION_HARNESS_H_
#define MLPIPE_TESTS_INTEGRATION_HARNESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace mlpipe::testing {

// $MLPIPE_BIN_DIR/<name>.
std::string Binary(const std::string& name);
// $MLPIPE_SOURCE_DIR/<path>.
std::string SourcePath(const std::string& path);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs argv to completion (at most `timeout_s`), capturing its output.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         int timeout_s = 300);

// A child process. Killed with SIGKILL when destroyed, if still running.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_file);
  ~Process();
  Process(const Process&) = delete;
  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits for exit; returns the exit code, or 128 + signal.
  int Wait();
  bool Running();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// A server binary (mlpipe-standalone unless named) on ports chosen by the OS,
// with its data in `data_dir`.
class Standalone {
 public:
  explicit Standalone(std::string data_dir,
                      std::vector<std::string> extra_flags = {},
                      const std::string& binary = "mlpipe-standalone");
  ~Standalone();
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  std::string address() const {
    return "localhost:" + std::to_string(grpc_port_);
  }
  // SIGKILL: no chance to clean up.
  void Crash();
  // SIGTERM and wait; returns the exit code.
  int Stop();
  // The CLI against this server.
  CommandResult Cli(std::vector<std::string> args) const;
  const std::string& log_file() const { return log_; }
  pid_t pid() const { return process_->pid(); }

 private:
  std::string data_dir_, log_;
  std::unique_ptr<Process> process_;
  int grpc_port_ = 0, metrics_port_ = 0;
};

// GET http://127.0.0.1:<port><path>; returns the body (empty on failure).
std::string HttpGet(int port, const std::string& path);

}  // namespace mlpipe::testing

#endif  // MLPIPE_TESTS_INTEGRATION_HARNESS_H_
