#include "tests/integration/harness.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/util/testing.h"

extern char** environ;

namespace mlpipe::testing {

std::string Binary(const std::string& name) {
  const char* dir = std::getenv("MLPIPE_BIN_DIR");
  if (dir == nullptr) dir = MLPIPE_BIN_DIR_DEFAULT;
  return std::string(dir) + "/" + name;
}

std::string SourcePath(const std::string& path) {
  const char* dir = std::getenv("MLPIPE_SOURCE_DIR");
  if (dir == nullptr) dir = MLPIPE_SOURCE_DIR_DEFAULT;
  return std::string(dir) + "/" + path;
}

namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out,
            const std::string& err) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  return pid;
}

int DecodeStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, int timeout_s) {
  TempDir tmp;
  std::string out = tmp.path() + "/out", err = tmp.path() + "/err";
  pid_t pid = Spawn(argv, out, err);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CommandResult r;
  r.exit_code = DecodeStatus(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

Process::Process(const std::vector<std::string>& argv,
                 const std::string& log_file) {
  pid_ = Spawn(argv, log_file + ".out", log_file);
}

Process::~Process() {
  if (Running()) {
    kill(pid_, SIGKILL);
    Wait();
  }
}

void Process::Signal(int sig) { kill(pid_, sig); }

int Process::Wait() {
  if (status_ == -1) {
    int status;
    waitpid(pid_, &status, 0);
    status_ = DecodeStatus(status);
  }
  return status_;
}

bool Process::Running() {
  if (status_ != -1) return false;
  int status;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = DecodeStatus(status);
    return false;
  }
  return true;
}

Standalone::Standalone(std::string data_dir, std::vector<std::string> extra,
                       const std::string& binary)
    : data_dir_(std::move(data_dir)), log_(data_dir_ + ".log") {
  std::string port_file = data_dir_ + ".ports";
  std::remove(port_file.c_str());
  std::vector<std::string> argv = {
      Binary(binary),     "--data_dir=" + data_dir_,
      "--grpc_port=0",    "--metrics_port=0",
      "--bind=127.0.0.1", "--port_file=" + port_file};
  argv.insert(argv.end(), extra.begin(), extra.end());
  process_ = std::make_unique<Process>(argv, log_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(port_file);
    if (in >> grpc_port_ >> metrics_port_) return;
    if (!process_->Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error(binary + " did not start; log: " + ReadFile(log_));
}

Standalone::~Standalone() {
  if (process_->Running()) Stop();
}

void Standalone::Crash() {
  process_->Signal(SIGKILL);
  process_->Wait();
}

int Standalone::Stop() {
  process_->Signal(SIGTERM);
  return process_->Wait();
}

CommandResult Standalone::Cli(std::vector<std::string> args) const {
  args.insert(args.begin(), {Binary("mlpipe"), "--server", address()});
  return RunCommand(args);
}

std::string HttpGet(int port, const std::string& path) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return "";
  std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) resp.append(buf, n);
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

}  // namespace mlpipe::testing
