// The RocksDB implementation of Store. RocksDB errors are mapped to
// absl::Status here and nowhere else.

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <tuple>

#include "absl/time/clock.h"
#include "common/storage/free_space.h"
#include "common/storage/key_codec.h"
#include "common/storage/store.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/listener.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/options_util.h"
#include "rocksdb/write_batch.h"
#include "rocksdb/write_buffer_manager.h"

namespace mlpipe::storage {
namespace {

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = StrCat(what, ": ", s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(msg);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(msg);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(msg);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(msg);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
      return absl::UnavailableError(msg);
    case rocksdb::Status::kIOError:
      if (s.subcode() == rocksdb::Status::kNoSpace) {
        return absl::ResourceExhaustedError(msg);
      }
      return absl::UnavailableError(msg);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

// RocksDB's messages of WARN and above, in the process's structured log
// rather than a LOG file beside the data: RocksDB aborts on writing a line
// after a write of that file failed (a full disk).
class StoreLogger final : public rocksdb::Logger {
 public:
  explicit StoreLogger(std::string path)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL),
        path_(std::move(path)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char buf[1024];
    std::vsnprintf(buf, sizeof(buf), format, ap);
    LogWarning("rocksdb", {{"path", path_}, {"message", buf}});
  }

 private:
  const std::string path_;
};

// Whether RocksDB has stopped taking writes after a failed write, flush or
// compaction (a background error), as it tells its listeners.
class ErrorState final : public rocksdb::EventListener {
 public:
  void OnBackgroundError(rocksdb::BackgroundErrorReason,
                         rocksdb::Status* error) override {
    if (error->ok()) return;
    std::lock_guard lock(mu_);
    error_ = FromRocks(*error, "writes stopped on an error");
    any_.store(true, std::memory_order_release);
  }
  // RocksDB's own recovery from a full disk waits for free space it never
  // sees (its file manager knows no path while no table file exists):
  // writes are resumed by hand (DB::Resume) once there is space.
  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status,
                            bool* auto_recovery) override {
    *auto_recovery = false;
  }
  void OnErrorRecoveryEnd(
      const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (info.new_bg_error.ok()) Clear();
  }
  void Clear() {
    std::lock_guard lock(mu_);
    error_ = absl::OkStatus();
    any_.store(false, std::memory_order_release);
  }
  // Whether writes are stopped: what every write asks, without the lock.
  bool any() const { return any_.load(std::memory_order_acquire); }
  // The error writes stopped on (RESOURCE_EXHAUSTED for a full disk); OK
  // while they are taken.
  absl::Status stopped() const {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  mutable std::mutex mu_;
  absl::Status error_;            // GUARDED_BY(mu_)
  std::atomic<bool> any_{false};  // !error_.ok()
};
std::string_view ToView(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}

class RocksIterator final : public Iterator {
 public:
  // `upper_bound`: the exclusive end of the prefix range, empty for none.
  RocksIterator(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                std::string prefix, std::string_view start)
      : prefix_(std::move(prefix)), upper_(PrefixEnd(prefix_)) {
    rocksdb::ReadOptions ro;
    // The bound lets RocksDB stop at the end of the prefix instead of
    // stepping over tombstones beyond it.
    if (!upper_.empty()) {
      upper_slice_ = ToSlice(upper_);
      ro.iterate_upper_bound = &upper_slice_;
    }
    it_.reset(db->NewIterator(ro, cf));
    it_->Seek(ToSlice(start.empty() ? std::string_view(prefix_) : start));
  }
  bool Valid() const override {
    return it_->Valid() && it_->key().starts_with(ToSlice(prefix_));
  }
  void Next() override { it_->Next(); }
  std::string_view key() const override { return ToView(it_->key()); }
  std::string_view value() const override { return ToView(it_->value()); }
  absl::Status status() const override {
    return FromRocks(it_->status(), "scan");
  }

 private:
  std::string prefix_;
  std::string upper_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class ErrorIterator final : public Iterator {
 public:
  explicit ErrorIterator(absl::Status s) : status_(std::move(s)) {}
  bool Valid() const override { return false; }
  void Next() override {}
  std::string_view key() const override { return {}; }
  std::string_view value() const override { return {}; }
  absl::Status status() const override { return status_; }

 private:
  absl::Status status_;
};

// A batch's operations in the order to apply them: by column family and
// key (stable: one key's operations keep their order) when it has no range
// deletion (whose effect depends on where it stands), else as given. Each
// memtable then takes its keys in ascending order, and its skip list finds
// every insertion point from the last one instead of from the top (a run of
// 100 cached steps: ~600 lineage and step records, most of its time).
std::vector<const WriteBatch::Op*> InKeyOrder(const WriteBatch& batch) {
  std::vector<const WriteBatch::Op*> ops;
  ops.reserve(batch.ops().size());
  bool ranges = false;
  for (const auto& op : batch.ops()) {
    ops.push_back(&op);
    ranges |= op.kind == WriteBatch::Kind::kDeleteRange;
  }
  if (!ranges) {
    std::stable_sort(ops.begin(), ops.end(), [](const auto* a, const auto* b) {
      return std::tie(a->column_family, a->key) <
             std::tie(b->column_family, b->key);
    });
  }
  return ops;
}

class RocksStore final : public Store {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db,
             std::vector<rocksdb::ColumnFamilyHandle*> handles,
             std::string path, uint64_t min_free_bytes,
             std::shared_ptr<ErrorState> errors)
      : db_(std::move(db)),
        path_(std::move(path)),
        min_free_(min_free_bytes),
        errors_(std::move(errors)) {
    for (auto* h : handles) cfs_[h->GetName()] = h;
  }
  ~RocksStore() override {
    if (!Resume(/*now=*/true).ok()) {
      // RocksDB aborts closing a log whose write failed: leave the files to
      // the OS. Nothing acknowledged is lost: the next open replays the WAL,
      // as after kill -9.
      LogWarning("store not closed: its writes stopped on an error",
                 {{"path", path_},
                  {"error", std::string(errors_->stopped().message())}});
      (void)db_.release();
      return;
    }
    for (auto& [name, h] : cfs_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
  }

  // After a write was refused for space, not writable until the disk has
  // more free than it had then (so health does not flap with each write).
  absl::Status Writable() override {
    const std::optional<uint64_t> free = Free(0, /*fresh=*/true);
    absl::Status s = CheckFreeSpace(path_, free, min_free_, 0);
    const uint64_t refused = refused_at_free_.load();
    if (s.ok() && refused > 0 && free.has_value() && *free <= refused) {
      s = NearlyFull(path_, *free, min_free_);
    }
    if (!s.ok()) return s;
    refused_at_free_.store(0);
    return Resume(/*now=*/false);
  }

  absl::StatusOr<std::string> Get(std::string_view cf,
                                  std::string_view key) const override {
    auto h = Handle(cf);
    if (!h.ok()) return h.status();
    std::string value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), *h, ToSlice(key), &value);
    if (!s.ok()) return FromRocks(s, StrCat("get ", cf));
    return value;
  }

  absl::Status Put(std::string_view cf, std::string_view key,
                   std::string_view value, WriteOptions options) override {
    auto h = Handle(cf);
    if (!h.ok()) return h.status();
    if (auto s = Writable(key.size() + value.size()); !s.ok()) return s;
    rocksdb::WriteOptions wo;
    wo.sync = options.sync;
    wo.disableWAL = options.skip_wal;
    return FromRocks(db_->Put(wo, *h, ToSlice(key), ToSlice(value)),
                     StrCat("put ", cf));
  }

  absl::Status Write(const WriteBatch& batch, WriteOptions options) override {
    // Room for every record (a tag, the column family and two lengths, at
    // most 16 bytes, besides its key and value): a batch of blocks grew by
    // doubling, copying and faulting in megabytes per block.
    rocksdb::WriteBatch wb(12 + batch.ApproximateBytes() +
                           16 * batch.ops().size());
    for (const WriteBatch::Op* o : InKeyOrder(batch)) {
      const WriteBatch::Op& op = *o;
      auto h = Handle(op.column_family);
      if (!h.ok()) return h.status();
      rocksdb::Status s;
      switch (op.kind) {
        case WriteBatch::Kind::kPut:
          s = wb.Put(*h, ToSlice(op.key), ToSlice(op.value));
          break;
        case WriteBatch::Kind::kDelete:
          s = wb.Delete(*h, ToSlice(op.key));
          break;
        case WriteBatch::Kind::kDeleteRange:
          s = wb.DeleteRange(*h, ToSlice(op.key), ToSlice(op.value));
          break;
      }
      if (!s.ok()) return FromRocks(s, "write batch");
    }
    // Deletions alone pass the reserve: they are small, and how space is
    // freed.
    const bool deletes = std::all_of(
        batch.ops().begin(), batch.ops().end(),
        [](const auto& op) { return op.kind != WriteBatch::Kind::kPut; });
    if (auto s = deletes ? Resume(/*now=*/false)
                         : Writable(batch.ApproximateBytes());
        !s.ok()) {
      return s;
    }
    rocksdb::WriteOptions wo;
    wo.sync = options.sync;
    wo.disableWAL = options.skip_wal;
    return FromRocks(db_->Write(wo, &wb), "write");
  }

  std::unique_ptr<Iterator> Scan(std::string_view cf, std::string_view prefix,
                                 std::string_view start) const override {
    auto h = Handle(cf);
    if (!h.ok()) return std::make_unique<ErrorIterator>(h.status());
    return std::make_unique<RocksIterator>(db_.get(), *h, std::string(prefix),
                                           start);
  }

  absl::StatusOr<std::optional<std::string>> LastKey(
      std::string_view cf, std::string_view prefix) const override {
    auto h = Handle(cf);
    if (!h.ok()) return h.status();
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), *h));
    std::string end = PrefixEnd(prefix);
    if (end.empty()) {
      it->SeekToLast();
    } else {
      it->SeekForPrev(ToSlice(end));
      if (it->Valid() && it->key() == ToSlice(end)) it->Prev();
    }
    if (!it->status().ok()) return FromRocks(it->status(), "last key");
    if (!it->Valid() || !it->key().starts_with(ToSlice(prefix))) {
      return std::optional<std::string>();
    }
    return std::optional<std::string>(it->key().ToString());
  }

  absl::Status SyncWal() override {
    // Syncing a log whose write failed trips an assertion in RocksDB.
    if (auto s = Writable(0); !s.ok()) return s;
    return FromRocks(db_->SyncWAL(), "sync WAL");
  }

  absl::Status Flush(const std::vector<std::string>& cfs) override {
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    for (const auto& cf : cfs) {
      auto h = Handle(cf);
      if (!h.ok()) return h.status();
      handles.push_back(*h);
    }
    rocksdb::FlushOptions fo;
    fo.wait = true;
    fo.allow_write_stall = true;
    return FromRocks(db_->Flush(fo, handles), "flush");
  }

  uint64_t ApproximateDiskBytes() const override {
    uint64_t total = 0;
    for (const auto& [name, h] : cfs_) {
      uint64_t v = 0;
      if (db_->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize,
                              &v)) {
        total += v;
      }
      if (db_->GetIntProperty(h, rocksdb::DB::Properties::kTotalBlobFileSize,
                              &v)) {
        total += v;
      }
    }
    return total;
  }

 private:
  absl::StatusOr<rocksdb::ColumnFamilyHandle*> Handle(
      std::string_view cf) const {
    auto it = cfs_.find(cf.empty() ? std::string_view("default") : cf);
    if (it == cfs_.end()) {
      return absl::InvalidArgumentError(
          StrCat("unknown column family '", cf, "'"));
    }
    return it->second;
  }

  // OK when `incoming` more bytes may be written: the disk keeps its
  // reserve, and writes are not stopped (or are resumed now).
  absl::Status Writable(uint64_t incoming) {
    const std::optional<uint64_t> free = Free(incoming, /*fresh=*/false);
    if (auto s = CheckFreeSpace(path_, free, min_free_, incoming); !s.ok()) {
      refused_at_free_.store(std::max<uint64_t>(*free, 1));
      return s;
    }
    return Resume(/*now=*/false);
  }

  // The disk's free bytes. A write's hot path reads them at most every
  // 50 ms (the reserve covers what is written meanwhile); a reading that
  // would refuse `incoming`, or one asked `fresh`, is taken anew.
  std::optional<uint64_t> Free(uint64_t incoming, bool fresh) {
    if (min_free_ == 0) return std::nullopt;
    const int64_t now = absl::GetCurrentTimeNanos();
    if (!fresh && now - free_read_at_.load() < 50'000'000) {
      const uint64_t cached = free_.load();
      if (cached >= min_free_ + incoming) return cached;
    }
    const std::optional<uint64_t> bytes = FreeBytes(path_);
    if (bytes.has_value()) {
      free_.store(*bytes);
      free_read_at_.store(now);
    }
    return bytes;
  }

  // Resumes writes stopped on an error (DB::Resume, at most once a second
  // unless `now`): OK when they are taken again.
  absl::Status Resume(bool now) {
    if (!errors_->any()) return absl::OkStatus();
    std::lock_guard lock(resume_mu_);
    const absl::Status error = errors_->stopped();
    if (error.ok()) return absl::OkStatus();
    if (now || absl::Now() - last_resume_ >= absl::Seconds(1)) {
      last_resume_ = absl::Now();
      const rocksdb::Status resumed = db_->Resume();
      if (resumed.ok()) {
        errors_->Clear();
        LogInfo("store writes resumed", {{"path", path_}});
        return absl::OkStatus();
      }
      LogWarning("store resume failed",
                 {{"path", path_}, {"error", resumed.ToString()}});
    }
    return absl::Status(error.code(),
                        StrCat(path_, ": ", error.message(),
                               "; they resume by themselves once it is fixed"));
  }

  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> cfs_;
  const std::string path_;
  const uint64_t min_free_;
  const std::shared_ptr<ErrorState> errors_;
  // Free bytes when a write was last refused for space; 0: none since.
  std::atomic<uint64_t> refused_at_free_{0};
  std::atomic<uint64_t> free_{0};         // The last reading of Free.
  std::atomic<int64_t> free_read_at_{0};  // When, in Unix nanoseconds.
  std::mutex resume_mu_;
  absl::Time last_resume_ = absl::InfinitePast();  // GUARDED_BY(resume_mu_)
};

rocksdb::ColumnFamilyOptions MakeCfOptions(
    const ColumnFamilyOptions& cf, const Options& options,
    const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions o;
  o.write_buffer_size = options.write_buffer_bytes;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  o.compression = cf.zstd ? rocksdb::kZSTD : rocksdb::kLZ4Compression;
  o.bottommost_compression = rocksdb::kZSTD;
  if (cf.large_values) {
    // Values go to blob files at each flush: small memtables hold a process's
    // memory down (each flushed memtable's arena is reused) for no more
    // compaction work (the LSM holds only keys and blob references).
    o.write_buffer_size = std::min<size_t>(o.write_buffer_size, 16 << 20);
    o.enable_blob_files = true;
    o.min_blob_size = 4096;
    o.blob_compression_type =
        cf.zstd ? rocksdb::kZSTD : rocksdb::kLZ4Compression;
    o.enable_blob_garbage_collection = true;
    o.blob_file_size = 256 << 20;
  }
  return o;
}

// One block cache and one memtable budget (memtables are flushed when all of
// the process's together exceed it) for every store of the process, so its
// RocksDB memory is bounded however many stores and column families it
// opens; the first store's options size them. (Charging the memtables to the
// cache instead cost ingest ~8% in bench/ingest.)
struct SharedMemory {
  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> buffers;
};

const SharedMemory& Memory(const Options& options) {
  static const SharedMemory memory = [&] {
    SharedMemory m;
    m.cache = rocksdb::NewLRUCache(options.block_cache_bytes);
    m.buffers = std::make_shared<rocksdb::WriteBufferManager>(
        options.write_buffer_bytes);
    return m;
  }();
  return memory;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenRocksStore(const std::string& path,
                                                      const Options& options) {
  if (path.empty()) return absl::InvalidArgumentError("store path is empty");
  if (options.create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) {
      return absl::UnavailableError(
          StrCat("cannot create ", path, ": ", ec.message()));
    }
  }
  // RocksDB aborts when it cannot write its new log and manifest.
  if (auto s = CheckFreeSpace(path, FreeBytes(path), options.min_free_bytes, 0);
      !s.ok()) {
    return absl::ResourceExhaustedError(
        StrCat("cannot open the store: ", s.message()));
  }
  const SharedMemory& memory = Memory(options);
  const auto& cache = memory.cache;
  auto errors = std::make_shared<ErrorState>();
  rocksdb::DBOptions db_options;
  db_options.write_buffer_manager = memory.buffers;
  db_options.listeners.push_back(errors);
  db_options.info_log = std::make_shared<StoreLogger>(path);
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = options.background_threads;
  db_options.keep_log_file_num = 5;
  // RocksDB reserves 4 MiB for each MANIFEST by default: with a store per
  // module (and the audit trail's) that is ~40 MB of a small disk before any
  // data. The manifest grows by a few hundred bytes per flush.
  db_options.manifest_preallocation_size = 256 << 10;
  // Leave the WAL on (never disable it): acknowledged writes survive kill -9.

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName,
                           MakeCfOptions({.name = "default"}, options, cache));
  for (const auto& cf : options.column_families) {
    if (cf.name == rocksdb::kDefaultColumnFamilyName) continue;
    descriptors.emplace_back(cf.name, MakeCfOptions(cf, options, cache));
  }
  // Families that exist on disk but were not asked for are opened too, with
  // default options, so an older binary can still open a newer database.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok()) {
    for (const auto& name : existing) {
      bool known = false;
      for (const auto& d : descriptors) known |= d.name == name;
      if (!known) {
        descriptors.emplace_back(name,
                                 MakeCfOptions({.name = name}, options, cache));
      }
    }
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) return FromRocks(s, StrCat("open ", path));
  return std::unique_ptr<Store>(
      new RocksStore(std::unique_ptr<rocksdb::DB>(raw), std::move(handles),
                     path, options.min_free_bytes, std::move(errors)));
}

}  // namespace mlpipe::storage
