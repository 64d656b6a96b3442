#include "services/ingest/open_beneath.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/util/strings.h"

namespace mlpipe::ingest {
namespace {

absl::Status Errno(const std::string& relative, int e) {
  const std::string why = StrCat("path: '", relative, "': ", std::strerror(e));
  if (e == ENOENT || e == ENOTDIR) return absl::NotFoundError(why);
  if (e == EXDEV || e == ELOOP)
    return absl::InvalidArgumentError(
        StrCat("path: '", relative, "' leads outside the import root"));
  return absl::InvalidArgumentError(why);
}

// Without openat2: one component at a time, never following a symlink.
int OpenByWalk(int dir, const std::string& relative) {
  std::vector<std::string> parts =
      absl::StrSplit(relative, '/', absl::SkipEmpty());
  int fd = dup(dir);
  for (size_t i = 0; fd >= 0 && i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    const int flags =
        O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (last ? 0 : O_DIRECTORY);
    const int next = openat(fd, parts[i].c_str(), flags);
    const int e = errno;
    close(fd);
    fd = next;
    errno = e;
  }
  return fd;
}

}  // namespace

absl::StatusOr<int> OpenBeneath(const std::string& root,
                                const std::string& relative) {
  if (relative.empty() || relative.find('\0') != std::string::npos ||
      relative[0] == '/') {
    return absl::InvalidArgumentError(
        "path: must be relative to the import root, without NUL bytes");
  }
  const int dir = open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) {
    return absl::FailedPreconditionError(
        StrCat("import root '", root, "': ", std::strerror(errno)));
  }
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  int fd = static_cast<int>(
      syscall(SYS_openat2, dir, relative.c_str(), &how, sizeof(how)));
  if (fd < 0 && (errno == ENOSYS || errno == EPERM))
    fd = OpenByWalk(dir, relative);
  const int e = errno;
  close(dir);
  if (fd < 0) return Errno(relative, e);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(
        StrCat("path: '", relative, "' is not a file"));
  }
  return fd;
}

}  // namespace mlpipe::ingest
