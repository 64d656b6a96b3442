#include "common/util/testing.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace mlpipe::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(base && *base ? base : "/tmp") + "/mlpipe-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + tmpl);
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

int CountLines(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

std::string Shell(const std::string& command, int* status) {
  FILE* p = popen(command.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (p != nullptr && (n = fread(buf, 1, sizeof(buf), p)) > 0)
    out.append(buf, n);
  *status = p != nullptr ? pclose(p) : -1;
  return out;
}

std::string Shell(const std::string& command) {
  int status = 0;
  std::string out = Shell(command, &status);
  if (status != 0) {
    throw std::runtime_error("exit status " + std::to_string(status) + ": " +
                             command + "\n" + out);
  }
  return out;
}

}  // namespace mlpipe::testing

namespace mlpipe::testing {
namespace {

// A port the OS hands out for 127.0.0.1 (free when this returns).
sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback(0);
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("cannot get a free port");
  }
  close(fd);
  return ntohs(a.sin_port);
}

// Whether something accepts connections on 127.0.0.1:port.
bool Accepts(int port) {
  int fd = ConnectLoopback(port);
  if (fd >= 0) close(fd);
  return fd >= 0;
}

}  // namespace

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback(port);
  if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0)
    return fd;
  if (fd >= 0) close(fd);
  return -1;
}

RedisServer::RedisServer(std::vector<std::string> extra,
                         const std::string& config)
    : extra_(std::move(extra)) {
  if (!config.empty()) {
    config_file_ = dir_.path() + "/redis.conf";
    WriteFile(config_file_, config);
  }
  // The port was free when chosen; another process may take it before
  // redis-server binds it. Then it exits, and another port is tried.
  for (int attempt = 0;; ++attempt) {
    port_ = FreePort();
    try {
      Start();
      return;
    } catch (const std::runtime_error&) {
      if (attempt == 2) throw;
    }
  }
}

RedisServer::~RedisServer() { Kill(); }

void RedisServer::Start() {
  std::string port = std::to_string(port_);
  std::string log = dir_.path() + "/redis.log";
  std::vector<std::string> args = {"redis-server"};
  if (!config_file_.empty()) args.push_back(config_file_);
  for (const std::string& a :
       {std::string("--port"), port, std::string("--bind"),
        std::string("127.0.0.1"), std::string("--dir"), dir_.path(),
        std::string("--logfile"), log})
    args.push_back(a);
  if (config_file_.empty()) {  // A sentinel refuses these.
    for (const char* a : {"--save", "", "--appendonly", "no"})
      args.emplace_back(a);
  }
  args.insert(args.end(), extra_.begin(), extra_.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_ = fork();
  if (pid_ == 0) {
    // Dies with the test, even one that aborts.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  for (int i = 0; i < 1000; ++i) {
    // Listening, and still ours: a redis-server that could not bind exits.
    if (Accepts(port_)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (waitpid(pid_, nullptr, WNOHANG) == 0) return;
      pid_ = -1;
      throw std::runtime_error("redis-server exited after start; log: " + log);
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error(
          "redis-server exited at start (is it "
          "installed? scripts/install-deps.sh); log: " +
          log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("redis-server did not listen within 10 s");
}

void RedisServer::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void RedisServer::Restart() {
  Kill();
  Start();
}

void RedisServer::Freeze() { kill(pid_, SIGSTOP); }

void RedisServer::Thaw() { kill(pid_, SIGCONT); }

}  // namespace mlpipe::testing
