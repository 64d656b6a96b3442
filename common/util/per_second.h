// A budget of events per second, for what a flood must not drown (log
// lines, audit records): the first `limit` events of each second pass, the
// rest are counted and the count handed to the next one that passes.
#ifndef MLPIPE_COMMON_UTIL_PER_SECOND_H_
#define MLPIPE_COMMON_UTIL_PER_SECOND_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace mlpipe {

// Thread-safe; approximate at second boundaries under races.
class PerSecondBudget {
 public:
  explicit PerSecondBudget(int64_t limit) : limit_(limit) {}

  // Whether this event passes; when it does, `*dropped_before` is how many
  // events were dropped since the last one that passed.
  bool Take(int64_t* dropped_before) {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    if (second_.exchange(now) != now) passed_ = 0;
    if (passed_.fetch_add(1) >= limit_) {
      dropped_.fetch_add(1);
      return false;
    }
    *dropped_before = dropped_.exchange(0);
    return true;
  }

 private:
  const int64_t limit_;
  std::atomic<int64_t> second_{0}, passed_{0}, dropped_{0};
};

}  // namespace mlpipe

#endif  // MLPIPE_COMMON_UTIL_PER_SECOND_H_
