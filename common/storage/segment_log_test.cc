#include "common/storage/segment_log.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "common/util/strings.h"
#include "common/util/testing.h"
#include "gtest/gtest.h"

namespace mlpipe::storage {
namespace {

std::unique_ptr<SegmentLog> OpenLog(const std::string& dir,
                                    SegmentLogOptions o = {}) {
  auto log = SegmentLog::Open(dir, o);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? std::move(*log) : nullptr;
}

std::vector<std::pair<uint64_t, std::string>> ReadAll(SegmentLog& log,
                                                      uint64_t from = 0,
                                                      size_t per_call = 7) {
  std::vector<std::pair<uint64_t, std::string>> out;
  for (uint64_t at = from; at < log.next();) {
    at = log.Read(at, per_call, [&](uint64_t seq, std::string_view r) {
      out.emplace_back(seq, std::string(r));
    });
  }
  return out;
}

std::string Payload(uint64_t i) {
  return std::string(i % 50, static_cast<char>('a' + i % 26)) + StrCat(i);
}

size_t Segments(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    n += e.path().extension() == ".seg";
  return n;
}

TEST(SegmentLogTest, ReadsInOrderAcrossSegmentsTrimsAndResumesAfterReopen) {
  testing::TempDir dir;
  SegmentLogOptions o{.segment_bytes = 1024, .max_bytes = 1 << 20};
  {
    auto log = OpenLog(dir.path(), o);
    for (uint64_t i = 1; i <= 200; i += 2) {
      auto first = log->Append({Payload(i), Payload(i + 1)});
      ASSERT_TRUE(first.ok()) << first.status();
      EXPECT_EQ(*first, i);
    }
    EXPECT_GT(Segments(dir.path()), 5u);
    auto all = ReadAll(*log);
    ASSERT_EQ(all.size(), 200u);
    for (uint64_t i = 0; i < 200; ++i) {
      EXPECT_EQ(all[i].first, i + 1);
      EXPECT_EQ(all[i].second, Payload(i + 1));
    }
    // A byte budget stops before the record that would pass it.
    size_t passed = 0;
    EXPECT_EQ(log->Read(1, 100, 1, [&](uint64_t, auto) { ++passed; }), 2u);
    EXPECT_EQ(log->Read(1, 100, Payload(1).size() + Payload(2).size(),
                        [&](uint64_t, auto) { ++passed; }),
              3u);
    EXPECT_EQ(passed, 3u);
    const size_t before = Segments(dir.path());
    ASSERT_TRUE(log->Trim(151).ok());
    EXPECT_LT(Segments(dir.path()), before);
    EXPECT_EQ(ReadAll(*log, 1).front().first, 151u);
  }
  auto log = OpenLog(dir.path(), o);
  EXPECT_EQ(log->trimmed(), 151u);
  EXPECT_EQ(log->next(), 201u);
  auto rest = ReadAll(*log);
  ASSERT_EQ(rest.size(), 50u);
  EXPECT_EQ(rest.front(), std::make_pair(uint64_t{151}, Payload(151)));
  ASSERT_EQ(*log->Append({"after"}), 201u);  // In a segment of its own.
  EXPECT_EQ(ReadAll(*log, 201).at(0).second, "after");
  ASSERT_TRUE(log->Trim(202).ok());
  EXPECT_EQ(Segments(dir.path()), 1u);  // The one appended to stays.
  EXPECT_TRUE(ReadAll(*log).empty());
}

// Skipped sequences are never given, survive a reopen once a record is past
// them, and a Read passes the gap (in the open log and after a reopen).
TEST(SegmentLogTest, SkippedSequencesAreAGapReadsPass) {
  testing::TempDir dir;
  {
    auto log = OpenLog(dir.path());
    ASSERT_EQ(*log->Append({"a", "b"}), 1u);
    log->SkipTo(2);  // Below next(): nothing.
    EXPECT_EQ(log->next(), 3u);
    log->SkipTo(1000);
    EXPECT_EQ(log->next(), 1000u);
    ASSERT_EQ(*log->Append({"c"}), 1000u);
    ASSERT_EQ(*log->Append({"d"}), 1001u);
    auto all = ReadAll(*log, 1, 1);
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[1], std::make_pair(uint64_t{2}, std::string("b")));
    EXPECT_EQ(all[2], std::make_pair(uint64_t{1000}, std::string("c")));
    // From inside the gap: the first record after it.
    EXPECT_EQ(ReadAll(*log, 500).at(0).first, 1000u);
  }
  auto log = OpenLog(dir.path());
  EXPECT_EQ(log->next(), 1002u);
  EXPECT_EQ(ReadAll(*log, 3).at(0).second, "c");
  EXPECT_EQ(ReadAll(*log).size(), 4u);
}

// One log per directory at a time: a second opener is refused, and can
// open it once the first has closed it.
TEST(SegmentLogTest, ASecondOpenerOfTheDirectoryIsRefused) {
  testing::TempDir dir;
  auto first = SegmentLog::Open(dir.path());
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = SegmentLog::Open(dir.path());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("is in use"), std::string_view::npos)
      << second.status();
  first->reset();
  EXPECT_TRUE(SegmentLog::Open(dir.path()).ok());
}

TEST(SegmentLogTest, BoundedInBytesAndARecordLargerThanASegmentFits) {
  testing::TempDir dir;
  auto log = OpenLog(dir.path(), {.segment_bytes = 4096, .max_bytes = 16384});
  ASSERT_TRUE(log->Append({std::string(10000, 'x')}).ok());  // 10,016 bytes.
  ASSERT_TRUE(log->Append({std::string(100, 'y')}).ok());    // A 4,096 one.
  auto full = log->Append({std::string(4000, 'z')});
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.status().message().find("16384"), std::string::npos)
      << full.status();
  EXPECT_EQ(log->next(), 3u);  // Nothing of the refused call.
  ASSERT_TRUE(log->Trim(2).ok());
  EXPECT_LE(log->bytes(), 4096u);
  ASSERT_TRUE(log->Append({std::string(4000, 'z')}).ok());
  // A byte budget per read: the first record always, then what fits.
  ASSERT_TRUE(log->Trim(1).ok());
  std::vector<size_t> sizes;
  auto size_of = [&](uint64_t, std::string_view r) {
    sizes.push_back(r.size());
  };
  EXPECT_EQ(log->Read(2, 10, 50, size_of), 3u);
  EXPECT_EQ(log->Read(3, 10, 5000, size_of), 4u);
  EXPECT_EQ(sizes, (std::vector<size_t>{100, 4000}));
  auto all = ReadAll(*log);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].second, std::string(4000, 'z'));
}

// Prepare makes the next segment ahead (within max_bytes), which the next
// segment appended to is; one left by a stop is deleted by the next open.
TEST(SegmentLogTest, PrepareMakesTheNextSegmentAhead) {
  testing::TempDir dir;
  const std::string spare = dir.path() + "/next.tmp";
  {
    auto log = OpenLog(dir.path(), {.segment_bytes = 4096, .max_bytes = 8192});
    ASSERT_TRUE(log->Append({std::string(3000, 'a')}).ok());
    log->Prepare();
    EXPECT_TRUE(std::filesystem::exists(spare));
    EXPECT_EQ(log->bytes(), 8192u);
    ASSERT_TRUE(log->Append({std::string(3000, 'b')}).ok());  // Takes it.
    EXPECT_FALSE(std::filesystem::exists(spare));
    EXPECT_EQ(Segments(dir.path()), 2u);
    log->Prepare();  // No room for another.
    EXPECT_FALSE(std::filesystem::exists(spare));
    auto all = ReadAll(*log);
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[1].second, std::string(3000, 'b'));
    ASSERT_TRUE(log->Trim(2).ok());
    log->Prepare();
    EXPECT_TRUE(std::filesystem::exists(spare));
  }
  EXPECT_FALSE(std::filesystem::exists(spare));  // Deleted on close.
  std::ofstream(spare) << "left by a kill";
  auto log = OpenLog(dir.path(), {.segment_bytes = 4096, .max_bytes = 8192});
  EXPECT_FALSE(std::filesystem::exists(spare));
  EXPECT_EQ(ReadAll(*log).at(0).second, std::string(3000, 'b'));
}

// The stores' disk space reserve: no segment is made past it.
TEST(SegmentLogTest, KeepsTheDisksReserveFree) {
  testing::TempDir dir;
  auto log = OpenLog(dir.path(), {.min_free_bytes = uint64_t{1} << 62});
  auto refused = log->Append({"x"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("nearly full"), std::string::npos)
      << refused.status();
  log->Prepare();
  EXPECT_EQ(Segments(dir.path()), 0u);
  EXPECT_EQ(log->bytes(), 0u);
}

TEST(SegmentLogTest, ConcurrentAppendsGetDistinctSequencesInOrder) {
  testing::TempDir dir;
  auto log =
      OpenLog(dir.path(), {.segment_bytes = 8192, .max_bytes = 64 << 20});
  constexpr int kThreads = 4, kEach = 2000;
  std::vector<std::thread> threads;
  std::atomic<int> appending{kThreads};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      absl::Cleanup done = [&] { --appending; };
      for (int i = 0; i < kEach; ++i) {
        ASSERT_TRUE(log->Append({StrCat(t, "-", i)}).ok());
        if (i % 8 == 0)
          std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    });
  }
  // The consumer reads and trims while they append, faster than they do:
  // up to the last record appended (a Read that passed records appended
  // meanwhile to the segment it read would lose them).
  std::vector<std::string> got;
  uint64_t at = 1;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (appending > 0 && std::chrono::steady_clock::now() < deadline) {
    at = log->Read(at, 1000, [&](uint64_t, std::string_view r) {
      got.emplace_back(r);
      std::this_thread::yield();  // Appends go on meanwhile.
    });
    ASSERT_TRUE(log->Trim(at).ok());
  }
  for (auto& th : threads) th.join();
  // What is left (a Read stops at the end of a segment).
  for (int i = 0; i < 1000 && at < log->next(); ++i) {
    at = log->Read(at, kThreads * kEach,
                   [&](uint64_t, std::string_view r) { got.emplace_back(r); });
  }
  ASSERT_EQ(got.size(), size_t{kThreads * kEach});
  EXPECT_EQ(at, log->next());
  std::map<std::string, int> next;
  for (const auto& r : got) {
    const auto dash = r.find('-');
    EXPECT_EQ(std::stoi(r.substr(dash + 1)), next[r.substr(0, dash)]++) << r;
  }
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), got.size());
}

// A record cut by kill -9 ends its segment quietly; one damaged inside a
// segment is counted, and the records before it are kept.
TEST(SegmentLogTest, ACutRecordEndsTheSegmentAndDamageIsCounted) {
  testing::TempDir dir;
  std::string path;
  {
    auto log = OpenLog(dir.path());
    ASSERT_TRUE(log->Append({"one", "two", "three"}).ok());
  }
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    if (e.path().extension() == ".seg") path = e.path().string();
  const off_t end = 16 + (8 + 3) + (8 + 3) + (8 + 5);
  {
    // A length written, the payload half copied, no CRC yet.
    const int fd = open(path.c_str(), O_RDWR);
    const char cut[] = {20, 0, 0, 0, 0, 0, 0, 0, 'h', 'a', 'l', 'f'};
    ASSERT_EQ(pwrite(fd, cut, sizeof cut, end), ssize_t{sizeof cut});
    close(fd);
  }
  {
    auto log = OpenLog(dir.path());
    EXPECT_EQ(log->damaged(), 0u);
    EXPECT_EQ(log->next(), 4u);
    ASSERT_EQ(*log->Append({"four"}), 4u);
    auto all = ReadAll(*log);
    ASSERT_EQ(all.size(), 4u);
    EXPECT_EQ(all[2].second, "three");
    EXPECT_EQ(all[3].second, "four");
  }
  {
    // A byte of "two" flipped: "three" after it is lost, and counted.
    const int fd = open(path.c_str(), O_RDWR);
    ASSERT_EQ(pwrite(fd, "T", 1, 16 + 11 + 8), 1);
    close(fd);
  }
  auto log = OpenLog(dir.path());
  EXPECT_EQ(log->damaged(), 1u);
  auto all = ReadAll(*log);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], std::make_pair(uint64_t{1}, std::string("one")));
  EXPECT_EQ(all[1], std::make_pair(uint64_t{4}, std::string("four")));
}

// Unused space is zeros; a zero word is never read as a record, at any
// sequence (with the length itself in the first word, zeros checked as an
// empty record at 1,503,905,684, where CRC-32 of the sequence and a zero
// length is 0).
TEST(SegmentLogTest, ZerosAreNeverARecord) {
  testing::TempDir dir;
  const uint64_t before = 1503905683;  // The record at it, zeros at the next.
  {
    char t[12];
    std::memcpy(t, &before, 8);
    const uint32_t crc = crc32_z(0, reinterpret_cast<const Bytef*>(t), 8);
    std::memcpy(t + 8, &crc, 4);
    std::ofstream(dir.path() + "/trim", std::ios::binary).write(t, 12);
  }
  {
    auto log = OpenLog(dir.path());
    ASSERT_EQ(*log->Append({"last"}), before);
  }
  auto log = OpenLog(dir.path());
  EXPECT_EQ(log->next(), before + 1);
  auto all = ReadAll(*log, before);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].second, "last");
}

// A file that cannot be read as a segment fails Open and stays; one cut
// while it was made (no header yet) is deleted.
TEST(SegmentLogTest, WhatCannotBeReadIsNeverDeleted) {
  testing::TempDir dir;
  const std::string foreign = dir.path() + "/00000000000000000001.seg";
  const std::string cut = dir.path() + "/00000000000000000009.seg";
  std::ofstream(foreign) << "not a segment of this version, 32+ bytes long";
  std::ofstream(cut) << std::string(4096, '\0');
  auto log = SegmentLog::Open(dir.path());
  EXPECT_EQ(log.status().code(), absl::StatusCode::kFailedPrecondition)
      << log.status();
  EXPECT_TRUE(std::filesystem::exists(foreign));
  std::filesystem::remove(foreign);
  ASSERT_TRUE(SegmentLog::Open(dir.path()).ok());
  EXPECT_FALSE(std::filesystem::exists(cut));
}

// A child process appends and reports each acknowledged sequence on a pipe;
// it is killed (SIGKILL) at a random moment, five times over the same log:
// every acknowledged record is there after each reopen, intact.
TEST(SegmentLogTest, AcknowledgedRecordsSurviveKillNine) {
  testing::TempDir dir;
  std::mt19937 rng(std::random_device{}());
  std::set<uint64_t> acked;
  for (int round = 0; round < 5; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      auto log = SegmentLog::Open(
          dir.path(), {.segment_bytes = 64 << 10, .max_bytes = 1 << 30});
      if (!log.ok()) _exit(2);
      for (;;) {
        const uint64_t next = (*log)->next();
        auto seq = (*log)->Append({Payload(next)});
        if (!seq.ok() || write(fds[1], &*seq, 8) != 8) _exit(3);
      }
    }
    close(fds[1]);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution(20, 200)(rng)));
    kill(pid, SIGKILL);
    uint64_t seq;
    while (read(fds[0], &seq, 8) == 8) acked.insert(seq);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    auto log = OpenLog(dir.path(), {.max_bytes = 1 << 30});
    EXPECT_EQ(log->damaged(), 0u);
    std::map<uint64_t, std::string> found;
    for (auto& [s, r] : ReadAll(*log, 0, 1000)) found[s] = r;
    for (uint64_t a : acked) {
      ASSERT_TRUE(found.contains(a)) << "round " << round << ": " << a;
      EXPECT_EQ(found[a], Payload(a));
    }
  }
  EXPECT_GT(acked.size(), 100u);
}

}  // namespace
}  // namespace mlpipe::storage
