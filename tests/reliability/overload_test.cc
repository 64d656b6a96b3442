// Overload: three times as many callers as the server admits. The excess is
// refused at once (RESOURCE_EXHAUSTED, faster than an answer) and the
// requests admitted keep their latency: a queue never builds. Both are
// seen with calls of 32 rows, which wait for a scoring thread. 1-row calls
// run on gRPC's own threads (no hand-off), at most as many at once as it
// has, so none is refused: the excess waits in gRPC's transport, where no
// server can count it, and by Little's law their latency grows with the
// callers (about 3x at 3x the callers, the throughput being the CPU's).
// Their figures are printed, and only checked to stay answered.
#include <iostream>

#include "gtest/gtest.h"
#include "tests/integration/harness.h"
#include "tests/reliability/load.h"

namespace mlpipe::testing {
namespace {

constexpr int kLimit = 8;
constexpr int kRows = 32;  // Over the inline limit (16): scoring threads.
// A refused caller waits this long before it calls again, as a client
// backing off does (one calling again at once only spends the CPU the
// admitted calls need: here the client shares the server's two cores).
constexpr int kRefusedBackoffMs = 20;

struct Measured {
  double p50 = 0, p99 = 0, refused_p50 = 0, refused_p99 = 0;
  size_t answered = 0, refused = 0, other = 0;
};

// `callers` calls of `rows` rows in flight for `seconds`.
Measured Measure(const Standalone& server, int callers, double seconds,
                 int rows = 1) {
  InFlightResult r = KeepInFlight(server.address(), callers, seconds, 0.5,
                                  kRefusedBackoffMs, rows);
  Measured m;
  m.p50 = QuantileMs(r.answered_ms, 0.5);
  m.p99 = QuantileMs(r.answered_ms, 0.99);
  m.refused_p50 = QuantileMs(r.refused_ms, 0.5);
  m.refused_p99 = QuantileMs(r.refused_ms, 0.99);
  m.answered = r.answered_ms.size();
  m.refused = r.refused_ms.size();
  for (const auto& [code, n] : r.failed) {
    m.other += n;
    ADD_FAILURE() << n << " calls: " << code << " " << r.last_failure;
  }
  std::cerr << callers << " callers of " << rows << " rows: " << m.answered
            << " answered, p50 " << m.p50 << " ms, p99 " << m.p99 << " ms; "
            << m.refused << " refused, p50 " << m.refused_p50 << " ms, p99 "
            << m.refused_p99 << " ms\n";
  return m;
}

class OverloadTest : public ServedModelTest {};

TEST_F(OverloadTest, ThreeTimesTheLimitIsShedAtOnceAndLatencyHolds) {
  Standalone server(data_,
                    {"--score_max_concurrent=" + std::to_string(kLimit)});
  const Measured unloaded = Measure(server, 1, 2);
  const Measured small = Measure(server, 3 * kLimit, 3);
  const Measured at_limit = Measure(server, kLimit, 3, kRows);
  const Measured shed = Measure(server, 3 * kLimit, 3, kRows);
  std::cerr << "overload: " << kRows << "-row calls, admitted p99 " << shed.p99
            << " ms at " << 3 * kLimit << " callers vs " << at_limit.p99
            << " ms at " << kLimit << " (limit); " << shed.refused << " of "
            << shed.answered + shed.refused << " refused, refusal p50 "
            << shed.refused_p50 << " ms vs answer p50 " << shed.p50
            << " ms; 1-row calls p99 " << small.p99 << " ms at " << 3 * kLimit
            << " callers vs " << unloaded.p99 << " ms at 1\n";
  EXPECT_EQ(unloaded.refused, 0u);
  EXPECT_EQ(at_limit.refused, 0u);
  // The excess is refused (before: never, the calls queued unseen), and a
  // refusal takes no longer than an answer.
  EXPECT_GT(shed.refused, (shed.answered + shed.refused) / 100);
  EXPECT_LE(shed.refused_p50, shed.p50);
  // Admitted requests do not wait behind the refused ones: their median
  // stays within 3x the limit's (a queue of every caller's calls). Measured
  // at the client on two cores it shares with the server, it is 1.6-2.4x,
  // and as much without a limit (then 0 are refused: what the check above
  // fails), the extra being the transport's on a busy CPU. The p99s, of
  // separate 3-second windows, are printed, not compared.
  EXPECT_LT(shed.p50, 3 * at_limit.p50);
  EXPECT_EQ(server.Stop(), 0) << Tail(ReadFile(server.log_file()));
}

}  // namespace
}  // namespace mlpipe::testing
