// A full disk, on a small tmpfs (needs root to mount; skipped otherwise):
// uploads are refused with a clear error and counted, the ingestion
// service reports NOT_SERVING while the server keeps serving, writes resume
// by themselves once space returns, SIGTERM exits 0, every acknowledged
// upload is there after a restart, and a start on a full disk fails cleanly
// (exit 1 naming the disk), never aborting.
#include <sys/mount.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/reliability/load.h"

namespace mlpipe::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;

class DiskFullTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    disk_ = dir_.path() + "/disk";
    std::filesystem::create_directories(disk_);
    // About 12 MB: 3 for the stores as opened, the rest fills in some
    // dozens of uploads (stored blocks are compact: about 100 KB each).
    if (mount("tmpfs", disk_.c_str(), "tmpfs", 0, "size=12m") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << disk_;
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(disk_.c_str(), MNT_DETACH);
  }
  // Grows (or shrinks) the disk, as an operator freeing space would.
  void Resize(const std::string& size) {
    ASSERT_EQ(mount("tmpfs", disk_.c_str(), "tmpfs", MS_REMOUNT,
                    ("size=" + size).c_str()),
              0);
  }
  std::vector<std::string> Flags() const {
    return {"--min_free_disk_mb=" + std::to_string(GetParam())};
  }
  // The status line `mlpipe status` gives the ingestion service.
  static std::string IngestionHealth(const Standalone& server) {
    std::istringstream out(server.Cli({"status"}).out);
    for (std::string line; std::getline(out, line);) {
      if (line.find("mlpipe.v1.Ingestion") != std::string::npos)
        return line.substr(line.rfind(' ') + 1);
    }
    return "";
  }

  TempDir dir_;
  std::string disk_;
  bool mounted_ = false;
  const std::string csv_ = SourcePath("examples/credit/credit.csv");
};

TEST_P(DiskFullTest, WritesAreRefusedCleanlyAndResumeWhenSpaceReturns) {
  const std::string data = disk_ + "/data";
  std::vector<std::string> acknowledged;
  {
    Standalone server(data, Flags());
    int refused = 0;
    for (int i = 0; i < 250 && refused < 3; ++i) {
      const std::string name = "d" + std::to_string(i);
      auto r = server.Cli({"ingest", "--dataset", name, "--file", csv_});
      if (r.exit_code == 0) {
        acknowledged.push_back(name);
        continue;
      }
      ++refused;
      EXPECT_THAT(r.err, AnyOf(HasSubstr("the disk is nearly full"),
                               HasSubstr("No space left on device")));
      EXPECT_THAT(r.err, Not(HasSubstr("cannot reach")));
    }
    ASSERT_GT(refused, 0) << "the disk never filled";
    ASSERT_GT(acknowledged.size(), 0u);
    const std::string metrics = HttpGet(server.metrics_port(), "/metrics");
    EXPECT_THAT(metrics,
                HasSubstr("mlpipe_ingest_rejections_total{reason=\"storage_"
                          "error\"} " +
                          std::to_string(refused)));
    std::string health;
    for (int i = 0; i < 50 && health != "NOT_SERVING"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      health = IngestionHealth(server);
    }
    EXPECT_EQ(health, "NOT_SERVING");
    EXPECT_EQ(server.Cli({"status"}).exit_code, 0);  // The server serves.

    Resize("96m");  // Space returns: no restart needed.
    bool resumed = false;
    for (int i = 0; i < 30 && !resumed; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      resumed = server.Cli({"ingest", "--dataset", "after", "--file", csv_})
                    .exit_code == 0;
    }
    EXPECT_TRUE(resumed);
    if (resumed) acknowledged.push_back("after");
    for (int i = 0; i < 50 && health != "SERVING"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      health = IngestionHealth(server);
    }
    EXPECT_EQ(health, "SERVING");
    EXPECT_EQ(server.Stop(), 0) << Tail(ReadFile(server.log_file()));
  }
  Standalone again(data, Flags());
  for (const auto& name : acknowledged) {
    auto r = again.Cli({"datasets", "show", name});
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("4,454")) << name;
  }
  std::cerr << "disk full: " << acknowledged.size()
            << " uploads acknowledged, all present after the restart\n";
  EXPECT_EQ(again.Stop(), 0);
}

TEST_P(DiskFullTest, AStartOnAFullDiskFailsCleanly) {
  const std::string data = disk_ + "/data";
  {
    Standalone first(data, Flags());
    ASSERT_EQ(first.Stop(), 0);
  }
  {
    std::ofstream filler(disk_ + "/filler", std::ios::binary);
    const std::string mib(1 << 20, 'x');
    while (filler.write(mib.data(), mib.size())) {
    }
  }
  std::vector<std::string> argv = {Binary("mlpipe-standalone"),
                                   "--data_dir=" + data, "--grpc_port=0",
                                   "--metrics_port=0", "--bind=127.0.0.1"};
  for (const auto& f : Flags()) argv.push_back(f);
  auto r = RunCommand(argv, 60);
  EXPECT_EQ(r.exit_code, 1) << r.err;  // Not 134: no abort.
  EXPECT_THAT(r.err, AnyOf(HasSubstr("the disk is nearly full"),
                           HasSubstr("No space left on device")));
  std::filesystem::remove(disk_ + "/filler");
  Standalone after(data, Flags());  // Space back: it starts.
  EXPECT_EQ(after.Stop(), 0);
}

// 0: no reserve, RocksDB itself meets the full disk; 4: writes stop 4 MiB
// before it.
INSTANTIATE_TEST_SUITE_P(Reserve, DiskFullTest, ::testing::Values(0, 4));

}  // namespace
}  // namespace mlpipe::testing
