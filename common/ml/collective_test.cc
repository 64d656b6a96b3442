// A GBDT model fitted by two processes over XGBoost's collective, each with
// half the rows, against one process with all of them; and a worker lost
// mid-fit. Real processes (collective_worker), XGBoost's own tracker.
#include "common/ml/collective.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::ml {
namespace {

using ::testing::HasSubstr;

// collective_worker, beside this test binary.
std::string Worker() {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string path(self, n > 0 ? n : 0);
  return path.substr(0, path.rfind('/') + 1) + "collective_worker";
}

// A worker started in the background, its output in a file.
struct WorkerRun {
  pid_t pid = -1;
  std::string out;
};

WorkerRun Start(const testing::TempDir& dir, const Collective& c,
                int slow_ms = 0) {
  WorkerRun r;
  r.out = dir.path() + "/" + c.task_id + ".out";
  r.pid = fork();
  if (r.pid == 0) {
    FILE* f = std::fopen(r.out.c_str(), "w");
    dup2(fileno(f), STDOUT_FILENO);
    dup2(fileno(f), STDERR_FILENO);
    std::string port = std::to_string(c.tracker_port),
                n = std::to_string(c.workers),
                task = c.task_id.substr(c.task_id.rfind('-') + 1),
                slow = std::to_string(slow_ms);
    execl(Worker().c_str(), "collective_worker", port.c_str(), n.c_str(),
          task.c_str(), slow.c_str(), nullptr);
    _exit(127);
  }
  return r;
}

int Wait(const WorkerRun& r) {
  int status = 0;
  waitpid(r.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// What a worker printed so far ("" before it has begun).
std::string Output(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

double Auc(const std::string& out) {
  std::string text = Output(out);
  size_t at = text.find(" auc ");
  return at == std::string::npos ? -1 : std::stod(text.substr(at + 5));
}

TEST(CollectiveTest, TwoShardsFitAsWellAsAllRowsInOneProcess) {
  testing::TempDir dir;
  WorkerRun alone = Start(dir, {"", 0, 0, "worker-0"});
  ASSERT_EQ(Wait(alone), 0) << testing::ReadFile(alone.out);
  const double single = Auc(alone.out);

  testing::TempDir shards;
  auto tracker = Tracker::Start(2, "127.0.0.1");
  ASSERT_TRUE(tracker.ok()) << tracker.status();
  WorkerRun a = Start(shards, (*tracker)->For("worker-0"));
  WorkerRun b = Start(shards, (*tracker)->For("worker-1"));
  ASSERT_EQ(Wait(a), 0) << testing::ReadFile(a.out);
  ASSERT_EQ(Wait(b), 0) << testing::ReadFile(b.out);
  // Each held half the rows; both grew the same trees.
  EXPECT_THAT(testing::ReadFile(a.out), HasSubstr("rows 30000 "));
  EXPECT_THAT(testing::ReadFile(b.out), HasSubstr("rows 30000 "));
  EXPECT_EQ(Auc(a.out), Auc(b.out));
  std::printf("held-out AUC: one process, all rows %.6f; two shards %.6f\n",
              single, Auc(a.out));
  EXPECT_GT(single, 0.8);
  // Within the held-out AUC's noise (20,000 rows: a standard error of about
  // 0.0015): the shards' quantile sketches differ from one of all rows.
  EXPECT_NEAR(Auc(a.out), single, 0.005);
}

TEST(CollectiveTest, ALostWorkerFailsTheOthersFitWithAClearError) {
  testing::TempDir dir;
  auto tracker = Tracker::Start(2, "127.0.0.1");
  ASSERT_TRUE(tracker.ok()) << tracker.status();
  WorkerRun a = Start(dir, (*tracker)->For("worker-0"), /*slow_ms=*/200);
  WorkerRun b = Start(dir, (*tracker)->For("worker-1"), /*slow_ms=*/200);
  // Once both are boosting, one dies.
  for (int i = 0; i < 300; ++i) {
    if (Output(b.out).find("round") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(b.pid, SIGKILL);
  EXPECT_EQ(Wait(b), 128 + SIGKILL);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Wait(a), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(60));
  EXPECT_THAT(
      testing::ReadFile(a.out),
      HasSubstr("UNAVAILABLE: collective fit: another worker was lost"));
}

TEST(CollectiveTest, AMissingTrackerIsNamed) {
  auto t = Tracker::Start(2, "127.0.0.1", "/nonexistent/tracker.py");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(t.status().message(), HasSubstr("python3-xgboost"));
}

}  // namespace
}  // namespace mlpipe::ml
