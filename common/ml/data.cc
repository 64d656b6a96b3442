#include "common/ml/data.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdint>
#include <thread>

namespace mlpipe::ml {

void AdviseHugePages(const void* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin =
      (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
#endif
}

int ParallelFor(size_t n, int threads,
                const std::function<void(size_t, size_t, int)>& fn) {
  int parts = static_cast<int>(std::max<size_t>(
      1, std::min<size_t>(std::max(threads, 1), n / 1024 + 1)));
  if (parts == 1) {
    fn(0, n, 0);
    return 1;
  }
  std::vector<std::thread> pool;
  size_t chunk = (n + parts - 1) / parts;
  for (int p = 1; p < parts; ++p) {
    size_t begin = std::min(n, p * chunk), end = std::min(n, begin + chunk);
    pool.emplace_back([&fn, begin, end, p] { fn(begin, end, p); });
  }
  fn(0, std::min(n, chunk), 0);
  for (auto& t : pool) t.join();
  return parts;
}

}  // namespace mlpipe::ml
