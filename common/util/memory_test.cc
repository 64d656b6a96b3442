#include "common/util/memory.h"

#include <jemalloc/jemalloc.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstring>
#include <memory>

#include "gtest/gtest.h"

namespace mlpipe::util {
namespace {

void SetDecay(ssize_t ms) {
  ASSERT_EQ(
      mallctl("arena.0.dirty_decay_ms", nullptr, nullptr, &ms, sizeof(ms)), 0);
}

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

// Page faults of allocating, filling and freeing `bytes` `rounds` times.
long FaultsOfRounds(size_t bytes, int rounds) {
  const long before = MinorFaults();
  for (int i = 0; i < rounds; ++i) {
    std::unique_ptr<char[]> b(new char[bytes]);
    std::memset(b.get(), 1, bytes);
    volatile char sink = b[bytes / 2];
    (void)sink;
  }
  return MinorFaults() - before;
}

// The test binary allocates with jemalloc (mlpipe::allocator), one arena.
TEST(HoldFreedMemoryTest, PausesDecayWhileHeldAndRestoresIt) {
  const auto before = ArenaDirtyDecayMs(0);
  ASSERT_TRUE(before.has_value()) << "not linked with jemalloc";
  ASSERT_NE(*before, -1);
  {
    HoldFreedMemory outer;
    EXPECT_EQ(ArenaDirtyDecayMs(0), -1);
    {
      HoldFreedMemory inner;
      EXPECT_EQ(ArenaDirtyDecayMs(0), -1);
    }
    EXPECT_EQ(ArenaDirtyDecayMs(0), -1);  // The outer hold still holds.
  }
  EXPECT_EQ(ArenaDirtyDecayMs(0), before);
}

// With decay at 0 a freed 64 MiB block goes back to the kernel at once and
// each round faults every page in again; held, the rounds reuse it (from
// the second or third: jemalloc first maps a fresh extent).
TEST(HoldFreedMemoryTest, FreedBlocksAreReusedInsteadOfFaultedInAgain) {
  const auto before = ArenaDirtyDecayMs(0);
  ASSERT_TRUE(before.has_value());
  SetDecay(0);
  constexpr size_t kBytes = 64 << 20;
  constexpr long kPages = kBytes / 4096;
  const long returned = FaultsOfRounds(kBytes, 8);
  long held;
  {
    HoldFreedMemory hold;
    held = FaultsOfRounds(kBytes, 8);
  }
  EXPECT_EQ(ArenaDirtyDecayMs(0), 0);
  SetDecay(*before);
  EXPECT_GE(returned, 8 * kPages);  // Every round faulted its pages in.
  EXPECT_LE(held, 3 * kPages) << "faults while held: " << held;
}

}  // namespace
}  // namespace mlpipe::util
