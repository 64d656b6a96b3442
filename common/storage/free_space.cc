#include "common/storage/free_space.h"

#include <sys/statvfs.h>

#include <cstdio>

#include "common/util/strings.h"

namespace mlpipe::storage {

std::optional<uint64_t> FreeBytes(const std::string& path) {
  struct statvfs st;
  if (statvfs(path.c_str(), &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

namespace {

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB",
                static_cast<double>(bytes) / (1 << 20));
  return buf;
}

}  // namespace

absl::Status NearlyFull(const std::string& path, uint64_t free,
                        uint64_t reserve) {
  return absl::ResourceExhaustedError(StrCat(
      path, ": the disk is nearly full (", Mib(free), " free; writes keep ",
      Mib(reserve), " free); free space and writes resume by themselves"));
}

absl::Status CheckFreeSpace(const std::string& path,
                            std::optional<uint64_t> free, uint64_t reserve,
                            uint64_t incoming) {
  if (reserve == 0 || !free.has_value() || *free >= reserve + incoming)
    return absl::OkStatus();
  return NearlyFull(path, *free, reserve);
}

}  // namespace mlpipe::storage
