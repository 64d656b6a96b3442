#include "common/util/memory.h"

#include <sys/types.h>

#include <mutex>
#include <string>
#include <vector>

// jemalloc's control interface, when the binary is linked with jemalloc
// (mlpipe::allocator); null otherwise.
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp,
                       void* newp, size_t newlen) __attribute__((weak));

namespace mlpipe::util {
namespace {

std::mutex holds_mu;
int holds = 0;                // GUARDED_BY(holds_mu)
std::vector<ssize_t> decays;  // Each arena's, before. GUARDED_BY(holds_mu)

unsigned Arenas() {
  unsigned n = 0;
  size_t len = sizeof(n);
  if (mallctl == nullptr || mallctl("arenas.narenas", &n, &len, nullptr, 0))
    return 0;
  return n;
}

// Sets arena i's dirty_decay_ms to `to` (unless null); its value before, or
// nothing (an arena not initialized yet, or no jemalloc).
std::optional<ssize_t> SwapDecay(unsigned i, const ssize_t* to) {
  if (mallctl == nullptr) return std::nullopt;
  const std::string name = "arena." + std::to_string(i) + ".dirty_decay_ms";
  ssize_t before = 0;
  size_t len = sizeof(before);
  if (mallctl(name.c_str(), &before, &len, const_cast<ssize_t*>(to),
              to == nullptr ? 0 : sizeof(*to)) != 0) {
    return std::nullopt;
  }
  return before;
}

}  // namespace

HoldFreedMemory::HoldFreedMemory() {
  std::lock_guard lock(holds_mu);
  if (holds++ > 0) return;
  const ssize_t never = -1;
  decays.assign(Arenas(), never);
  for (unsigned i = 0; i < decays.size(); ++i)
    decays[i] = SwapDecay(i, &never).value_or(never);
}

HoldFreedMemory::~HoldFreedMemory() {
  std::lock_guard lock(holds_mu);
  if (--holds > 0) return;
  for (unsigned i = 0; i < decays.size(); ++i)
    if (decays[i] != -1) SwapDecay(i, &decays[i]);
}

std::optional<long> ArenaDirtyDecayMs(unsigned arena) {
  auto d = SwapDecay(arena, nullptr);
  if (!d.has_value()) return std::nullopt;
  return static_cast<long>(*d);
}

}  // namespace mlpipe::util
