#include "common/util/ids.h"

#include <cstdio>

#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace mlpipe {

std::string NewId(std::string_view prefix) {
  static absl::BitGen* gen = new absl::BitGen();
  static absl::Mutex* mu = new absl::Mutex();
  uint32_t random;
  {
    absl::MutexLock lock(mu);
    random = absl::Uniform<uint32_t>(*gen);
  }
  char buf[32];
  std::snprintf(
      buf, sizeof(buf), "%012llx%08x",
      static_cast<unsigned long long>(absl::ToUnixMillis(absl::Now())), random);
  return std::string(prefix) + buf;
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  if (name[0] == '.' || name[0] == '-') return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace mlpipe
