#include "common/storage/segment_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/storage/free_space.h"
#include "common/util/log.h"
#include "common/util/strings.h"

namespace mlpipe::storage {
namespace {

constexpr char kMagic[8] = {'m', 'l', 'p', 's', 'e', 'g', '1', '\n'};
constexpr size_t kHeader = 16;  // Magic, first sequence.
constexpr size_t kFrame = 8;    // Length, CRC.

void PutU32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }  // Little-endian
void PutU64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }  // hosts only.
uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
static_assert(std::endian::native == std::endian::little);

// Covers the sequence too: a record copied to another place does not check.
uint32_t Crc(uint64_t sequence, const char* frame_and_payload, size_t n) {
  char seq[8];
  PutU64(seq, sequence);
  uLong c = crc32_z(0, reinterpret_cast<const Bytef*>(seq), 8);
  c = crc32_z(c, reinterpret_cast<const Bytef*>(frame_and_payload), 4);
  return static_cast<uint32_t>(crc32_z(
      c, reinterpret_cast<const Bytef*>(frame_and_payload + kFrame), n));
}

absl::Status Errno(std::string_view what, const std::string& path) {
  const int e = errno;
  std::string msg = StrCat(what, " '", path, "': ", std::strerror(e));
  if (e == ENOSPC || e == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

std::string SegmentName(uint64_t first) {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.seg",
                static_cast<unsigned long long>(first));
  return name;
}

}  // namespace

SegmentLog::SegmentLog(std::string dir, SegmentLogOptions options)
    : dir_(std::move(dir)), options_(options) {}

SegmentLog::~SegmentLog() {
  for (Segment& s : segments_) munmap(s.base, s.size);
  if (spare_ != nullptr) Drop(*spare_);
  if (trim_fd_ >= 0) close(trim_fd_);
}

absl::StatusOr<std::unique_ptr<SegmentLog>> SegmentLog::Open(
    const std::string& dir, SegmentLogOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::InternalError(
        StrCat("cannot create '", dir, "': ", ec.message()));
  }
  std::unique_ptr<SegmentLog> log(new SegmentLog(dir, options));
  if (auto s = log->Recover(); !s.ok()) return s;
  return log;
}

absl::Status SegmentLog::Recover() {
  const std::string trim = dir_ + "/trim";
  trim_fd_ = open(trim.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (trim_fd_ < 0) return Errno("cannot open", trim);
  // Two writers would hand out the same sequences and trim each other's
  // records: the lock (released when the file closes, or the process dies)
  // keeps a second one out.
  if (flock(trim_fd_, LOCK_EX | LOCK_NB) != 0) {
    return errno == EWOULDBLOCK
               ? absl::FailedPreconditionError(
                     StrCat("log '", dir_, "' is in use (another process or ",
                            "server has it open)"))
               : Errno("cannot lock", trim);
  }
  char t[12];
  if (pread(trim_fd_, t, sizeof t, 0) == sizeof t &&
      crc32_z(0, reinterpret_cast<const Bytef*>(t), 8) == GetU32(t + 8))
    trimmed_ = std::max<uint64_t>(1, GetU64(t));
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().extension() == ".seg") paths.push_back(e.path().string());
    if (e.path().extension() == ".tmp") unlink(e.path().c_str());  // Spare.
  }
  std::sort(paths.begin(), paths.end());  // Names are zero-padded.
  next_ = trimmed_;
  for (const std::string& path : paths) {
    Segment s;
    auto holds = Load(path, &s);
    if (!holds.ok()) {
      if (s.base != nullptr) munmap(s.base, s.size);
      return holds.status();  // Kept on disk: nothing is deleted unread.
    }
    if (!*holds || s.first + s.count <= trimmed_) {
      Drop(s);
      continue;
    }
    if (!segments_.empty() && s.first < next_) {
      LogWarning(
          "segment log: a segment overlaps the one before; left on disk, "
          "not read",
          {{"path", path}});
      munmap(s.base, s.size);
      continue;
    }
    bytes_ += s.size;
    next_ = s.first + s.count;
    segments_.push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> SegmentLog::Load(const std::string& path, Segment* s) {
  s->path = path;
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno("cannot open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return Errno("cannot stat", path);
  }
  if (static_cast<size_t>(st.st_size) < kHeader) {
    close(fd);
    return false;  // Cut while it was made: nothing was written to it.
  }
  void* m = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED) return Errno("cannot map", path);
  s->base = static_cast<char*>(m);
  s->size = st.st_size;
  if (std::all_of(s->base, s->base + kHeader, [](char c) { return c == 0; }))
    return false;  // Made, its header not written yet: no record.
  if (std::memcmp(s->base, kMagic, 8) != 0) {
    return absl::FailedPreconditionError(
        StrCat("'", path, "' is not a segment this version reads"));
  }
  s->first = GetU64(s->base + 8);
  size_t at = kHeader;
  // A frame's first word is the payload's length + 1: zero is the end.
  while (at + kFrame <= s->size) {
    const uint32_t word = GetU32(s->base + at);
    if (word == 0 || word - 1 > s->size - at - kFrame ||
        Crc(s->first + s->count, s->base + at, word - 1) !=
            GetU32(s->base + at + 4))
      break;
    at += kFrame + word - 1;
    ++s->count;
  }
  s->end = at;
  // The end: zeros, or a record cut by kill -9 (so never acknowledged).
  if (at + kFrame <= s->size && GetU32(s->base + at) != 0) {
    const uint32_t n = GetU32(s->base + at) - 1;
    const bool cut =
        n <= s->size - at - kFrame &&
        std::all_of(s->base + at + kFrame + n,
                    s->base + std::min(s->size, at + kFrame + n + kFrame),
                    [](char c) { return c == 0; });
    if (!cut) {
      ++damaged_;
      LogWarning(
          "segment log: a damaged record ends a segment; what "
          "follows it there is lost",
          {{"path", path}, {"records_read", StrCat(s->count)}});
    }
  }
  return s->count > 0;
}

void SegmentLog::Drop(Segment& s) {
  if (s.base != nullptr) munmap(s.base, s.size);
  s.base = nullptr;
  if (!s.path.empty()) unlink(s.path.c_str());
}

absl::StatusOr<SegmentLog::Segment> SegmentLog::MakeFile(
    const std::string& path, size_t bytes) {
  if (auto s =
          CheckFreeSpace(dir_, FreeBytes(dir_), options_.min_free_bytes, bytes);
      !s.ok())
    return s;
  Segment s;
  s.path = path;
  const int fd =
      open(s.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", s.path);
  // Blocks reserved now: a write into the mapping never meets a full disk.
  if (const int e = posix_fallocate(fd, 0, static_cast<off_t>(bytes)); e != 0) {
    close(fd);
    unlink(s.path.c_str());
    errno = e;
    return Errno("cannot reserve space for", s.path);
  }
  void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m == MAP_FAILED) {
    unlink(s.path.c_str());
    return Errno("cannot map", s.path);
  }
  s.base = static_cast<char*>(m);
  s.size = bytes;
  return s;
}

absl::Status SegmentLog::AddSegment(size_t bytes, uint64_t first) {
  const std::string path = dir_ + "/" + SegmentName(first);
  Segment s;
  if (spare_ != nullptr && spare_->size >= bytes &&
      rename(spare_->path.c_str(), path.c_str()) == 0) {
    s = std::move(*spare_);  // Counted in bytes_ already, pages faulted in.
    spare_.reset();
    s.path = path;
    populated_ = true;
  } else {
    if (bytes_ + bytes > options_.max_bytes) {
      return absl::ResourceExhaustedError(
          StrCat("segment log '", dir_, "' holds ", bytes_, " bytes; ", bytes,
                 " more would pass its limit of ", options_.max_bytes));
    }
    auto made = MakeFile(path, bytes);
    if (!made.ok()) return made.status();
    s = std::move(*made);
    bytes_ += s.size;
    populated_ = false;
  }
  s.first = first;
  std::memcpy(s.base, kMagic, 8);
  PutU64(s.base + 8, first);
  s.end = kHeader;
  segments_.push_back(std::move(s));
  appendable_ = true;
  dir_synced_ = false;
  return absl::OkStatus();
}

void SegmentLog::Prepare() {
  char* from = nullptr;
  size_t length = 0;
  bool spare = false;
  {
    std::lock_guard lock(mu_);
    if (appendable_ && !populated_) {
      const Segment& s = segments_.back();
      const size_t page = 4096;
      const size_t at = (s.end + page - 1) / page * page;
      if (at < s.size) from = s.base + at, length = s.size - at;
      populated_ = true;
    }
    spare = spare_ == nullptr &&
            bytes_ + options_.segment_bytes <= options_.max_bytes;
  }
  // Faulted in as if written, without changing a byte (Linux 5.14; before
  // it, EINVAL and the appends fault them).
  if (from != nullptr) madvise(from, length, MADV_POPULATE_WRITE);
  if (!spare) return;
  auto made = MakeFile(dir_ + "/next.tmp", options_.segment_bytes);
  if (!made.ok()) return;  // Append makes one then, or says why not.
  madvise(made->base, made->size, MADV_POPULATE_WRITE);
  std::lock_guard lock(mu_);
  if (spare_ != nullptr || bytes_ + made->size > options_.max_bytes)
    return Drop(*made);
  bytes_ += made->size;
  spare_ = std::make_unique<Segment>(std::move(*made));
}

absl::StatusOr<uint64_t> SegmentLog::Append(
    const std::vector<std::string>& records) {
  size_t need = 0;
  for (const std::string& r : records) {
    if (r.size() >= UINT32_MAX - kFrame)
      return absl::InvalidArgumentError("segment log: a record over 4 GiB");
    need += kFrame + r.size();
  }
  std::lock_guard lock(mu_);
  const uint64_t first = next_;
  if (records.empty()) return first;
  if (next_ - trimmed_ + records.size() > options_.max_records) {
    return absl::ResourceExhaustedError(
        StrCat("segment log '", dir_, "' holds ", next_ - trimmed_,
               " records; ", records.size(), " more would pass its limit of ",
               options_.max_records));
  }
  if (!appendable_ || segments_.back().end + need > segments_.back().size) {
    if (auto s =
            AddSegment(std::max(options_.segment_bytes, kHeader + need), first);
        !s.ok())
      return s;
  }
  Segment& s = segments_.back();
  for (const std::string& r : records) {
    char* p = s.base + s.end;
    PutU32(p, static_cast<uint32_t>(r.size() + 1));
    std::memcpy(p + kFrame, r.data(), r.size());
    PutU32(p + 4, Crc(next_, p, r.size()));
    s.end += kFrame + r.size();
    ++s.count;
    ++next_;
  }
  return first;
}

uint64_t SegmentLog::Read(
    uint64_t from, size_t max, size_t max_bytes,
    const std::function<void(uint64_t, std::string_view)>& fn) {
  std::unique_lock lock(mu_);
  from = std::max(from, trimmed_);
  auto it = std::find_if(segments_.begin(), segments_.end(),
                         [&](auto& s) { return from < s.first + s.count; });
  if (it == segments_.end()) return std::max(from, next_);
  const Segment& s = *it;  // Valid while this consumer does not Trim.
  const uint64_t count = s.count;
  const size_t end = s.end;
  lock.unlock();
  uint64_t seq = s.first;
  size_t at = kHeader;
  {
    std::lock_guard cursor(cursor_mu_);
    if (from > s.first && cursor_first_ == s.first && cursor_seq_ <= from &&
        cursor_seq_ > s.first) {
      seq = cursor_seq_;
      at = cursor_offset_;
    }
  }
  for (; seq < from; ++seq) at += kFrame + GetU32(s.base + at) - 1;
  size_t n = 0, bytes = 0;
  for (; n < max && seq < s.first + count && at < end; ++n, ++seq) {
    const uint32_t len = GetU32(s.base + at) - 1;
    if (n > 0 && bytes + len > max_bytes) break;
    bytes += len;
    fn(seq, std::string_view(s.base + at + kFrame, len));
    at += kFrame + len;
  }
  {
    std::lock_guard cursor(cursor_mu_);
    cursor_seq_ = seq;
    cursor_first_ = s.first;
    cursor_offset_ = at;
  }
  if (seq < s.first + count) return seq;
  // Read to where it was: the next record is in it still when more came
  // meanwhile or may come, else it is the following segment's first (past a
  // gap).
  lock.lock();
  if (seq < s.first + s.count || (appendable_ && &s == &segments_.back()))
    return seq;
  auto next = std::find_if(segments_.begin(), segments_.end(),
                           [&](auto& o) { return o.first >= seq; });
  return next == segments_.end() ? std::max(seq, next_)
                                 : std::max(seq, next->first);
}

absl::Status SegmentLog::Trim(uint64_t sequence) {
  {
    std::lock_guard lock(mu_);
    sequence = std::min(sequence, next_);
    if (sequence <= trimmed_) return absl::OkStatus();
    trimmed_ = sequence;
  }
  char t[12];
  PutU64(t, sequence);
  PutU32(t + 8, crc32_z(0, reinterpret_cast<const Bytef*>(t), 8));
  if (pwrite(trim_fd_, t, sizeof t, 0) != sizeof t)
    return Errno("cannot write", dir_ + "/trim");
  std::lock_guard lock(mu_);
  while (segments_.size() > 1 || (!segments_.empty() && !appendable_)) {
    Segment& s = segments_.front();
    if (s.first + s.count > sequence) break;
    bytes_ -= s.size;
    Drop(s);
    segments_.pop_front();
  }
  if (segments_.empty()) appendable_ = false;
  return absl::OkStatus();
}

absl::Status SegmentLog::Sync() {
  std::lock_guard sync_lock(sync_mu_);
  struct Range {
    char* base;
    size_t from, to;
    const std::string* path;
  };
  std::vector<Range> ranges;
  bool dir;
  {
    std::lock_guard lock(mu_);
    for (Segment& s : segments_) {
      // A reference into a deque stays valid while Trim keeps it (Trim
      // never drops the segment appended to, and Sync runs on the side
      // that appends).
      if (s.synced < s.end)
        ranges.push_back({s.base, s.synced, s.end, &s.path});
    }
    dir = !dir_synced_;
    dir_synced_ = true;
  }
  const size_t page = 4096;
  for (const Range& r : ranges) {
    const size_t from = r.from / page * page;
    if (msync(r.base + from, r.to - from, MS_SYNC) != 0)
      return Errno("cannot sync", *r.path);
  }
  if (dir) {
    const int fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Errno("cannot open", dir_);
    const int rc = fsync(fd);
    close(fd);
    if (rc != 0) return Errno("cannot sync", dir_);
  }
  std::lock_guard lock(mu_);
  for (const Range& r : ranges) {
    for (Segment& s : segments_) {
      if (s.base == r.base) s.synced = std::max(s.synced, r.to);
    }
  }
  return absl::OkStatus();
}

void SegmentLog::SkipTo(uint64_t sequence) {
  std::lock_guard lock(mu_);
  if (sequence <= next_) return;
  next_ = sequence;
  appendable_ = false;  // The next append makes a segment starting there.
}

uint64_t SegmentLog::next() const {
  std::lock_guard lock(mu_);
  return next_;
}

uint64_t SegmentLog::trimmed() const {
  std::lock_guard lock(mu_);
  return trimmed_;
}

uint64_t SegmentLog::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace mlpipe::storage
