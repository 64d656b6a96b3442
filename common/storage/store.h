// A small key-value store interface over RocksDB: column families, atomic
// write batches, prefix scans. Every RocksDB detail (options, error codes)
// stays in this folder.
#ifndef MLPIPE_COMMON_STORAGE_STORE_H_
#define MLPIPE_COMMON_STORAGE_STORE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mlpipe::storage {

// How one column family stores its values.
struct ColumnFamilyOptions {
  std::string name;
  // Behaviour --------------------------------------------------------------
  // Values are large (tens of KB and up): keep them in blob files so that
  // compaction does not rewrite them. Default false.
  bool large_values = false;
  // Performance ------------------------------------------------------------
  // Compress values with ZSTD instead of LZ4 (smaller, slower). Default false.
  bool zstd = false;
};

struct Options {
  // Behaviour --------------------------------------------------------------
  // Column families besides "default". Opening an existing store with fewer
  // families than it has on disk fails; new names are created.
  std::vector<ColumnFamilyOptions> column_families;
  // Create the directory and the database when absent. Default true.
  bool create_if_missing = true;
  // Performance ------------------------------------------------------------
  // The process's LRU block cache, shared by all its stores (the first
  // store opened sizes it). Default 64 MiB.
  size_t block_cache_bytes = 64 << 20;
  // Memtable size per column family before it is flushed, and the budget of
  // all memtables of the process (flushed when over it; the first store
  // opened sets it). Default 64 MiB.
  size_t write_buffer_bytes = 64 << 20;
  // Background flush and compaction threads. Default 2.
  int background_threads = 2;
  // Safety -----------------------------------------------------------------
  // Writes are refused (RESOURCE_EXHAUSTED) while the disk would be left
  // with less free space, and opening needs at least this much: RocksDB that
  // meets a full disk stops every write until resumed. 0: no reserve.
  // Default 64 MiB.
  uint64_t min_free_bytes = 64 << 20;
};

struct WriteOptions {
  // fsync the write-ahead log before returning. Without it a write survives a
  // process crash (kill -9) but not a machine crash. Default false.
  bool sync = false;
  // Leave the write out of the write-ahead log: it is lost on a crash until
  // its column families are flushed (Store::Flush). For bulk data that a
  // later logged write commits, after the flush. Default false.
  bool skip_wal = false;
};

// A set of updates applied atomically by Store::Write. Not thread-safe.
class WriteBatch {
 public:
  enum class Kind { kPut, kDelete, kDeleteRange };
  struct Op {
    Kind kind;
    std::string column_family;
    std::string key;
    std::string value;  // For kDeleteRange: the exclusive end key.
  };

  void Put(std::string_view cf, std::string_view key, std::string value);
  void Delete(std::string_view cf, std::string_view key);
  // Deletes every key in [begin, end).
  void DeleteRange(std::string_view cf, std::string_view begin,
                   std::string_view end);

  // A deque: appending never moves the ops already there (a run's lineage
  // adds thousands).
  const std::deque<Op>& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }
  size_t ApproximateBytes() const { return bytes_; }
  void Clear() {
    ops_.clear();
    bytes_ = 0;
  }

 private:
  std::deque<Op> ops_;
  size_t bytes_ = 0;
};

// Iterates keys of one column family that start with a prefix, in order.
class Iterator {
 public:
  virtual ~Iterator() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  // REQUIRES: Valid(). Views stay valid until the next call to Next().
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // OK unless the scan ended because of an error.
  virtual absl::Status status() const = 0;
};

// Thread-safe: every method may be called concurrently.
class Store {
 public:
  virtual ~Store() = default;

  // Returns NOT_FOUND when the key is absent, DATA_LOSS on corruption.
  virtual absl::StatusOr<std::string> Get(std::string_view cf,
                                          std::string_view key) const = 0;
  virtual absl::Status Put(std::string_view cf, std::string_view key,
                           std::string_view value,
                           WriteOptions options = {}) = 0;
  // Applies every update of `batch` or none.
  virtual absl::Status Write(const WriteBatch& batch,
                             WriteOptions options = {}) = 0;
  // Keys of `cf` starting with `prefix`, from the first one >= `start` (or
  // the prefix itself when start is empty).
  virtual std::unique_ptr<Iterator> Scan(std::string_view cf,
                                         std::string_view prefix,
                                         std::string_view start = {}) const = 0;
  // The greatest key of `cf` with `prefix`, or nullopt when there is none.
  virtual absl::StatusOr<std::optional<std::string>> LastKey(
      std::string_view cf, std::string_view prefix = {}) const = 0;
  // Makes every write so far durable (fsync of the write-ahead log), as if
  // it had been written with sync.
  virtual absl::Status SyncWal() = 0;
  // Writes the column families' in-memory data to disk durably, waiting
  // for it: what was written to them with skip_wal then survives a crash.
  virtual absl::Status Flush(const std::vector<std::string>& cfs) = 0;
  // Approximate bytes on disk (0 for in-memory stores).
  virtual uint64_t ApproximateDiskBytes() const = 0;
  // OK while writes are accepted; otherwise the error a write gets now
  // (RESOURCE_EXHAUSTED: the disk is nearly full; UNAVAILABLE: stopped
  // after a write error). A stopped store is resumed here (and by the next
  // write) once space is back, so writes recover without a restart.
  virtual absl::Status Writable() = 0;
};

// Opens (creating when allowed) the RocksDB database in `path`. The WAL is
// on for every write without skip_wal. Returns INVALID_ARGUMENT for bad
// options, UNAVAILABLE when the database is locked by another process,
// DATA_LOSS on corruption, RESOURCE_EXHAUSTED when the disk has less than
// min_free_bytes free.
absl::StatusOr<std::unique_ptr<Store>> OpenRocksStore(const std::string& path,
                                                      const Options& options);

// A non-durable store in memory, for tests of logic that does not care about
// durability. Column families are created on first use.
std::unique_ptr<Store> NewMemoryStore();

}  // namespace mlpipe::storage

#endif  // MLPIPE_COMMON_STORAGE_STORE_H_
