// The RocksDB implementation of Store. RocksDB errors are mapped to
// absl::Status here and nowhere else.
#include <filesystem>
#include <map>

#include "common/storage/key_codec.h"
#include "common/storage/store.h"
#include "common/util/strings.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/options_util.h"
#include "rocksdb/write_batch.h"

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

class RocksStore final : public Store {
 public:
  RocksStore(std::unique_ptr<rocksdb::DB> db,
             std::vector<rocksdb::ColumnFamilyHandle*> handles)
      : db_(std::move(db)) {
    for (auto* h : handles) cfs_[h->GetName()] = h;
  }
  ~RocksStore() override {
    for (auto& [name, h] : cfs_) db_->DestroyColumnFamilyHandle(h);
    db_->Close();
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
    rocksdb::WriteOptions wo;
    wo.sync = options.sync;
    return FromRocks(db_->Put(wo, *h, ToSlice(key), ToSlice(value)),
                     StrCat("put ", cf));
  }

  absl::Status Write(const WriteBatch& batch, WriteOptions options) override {
    rocksdb::WriteBatch wb;
    for (const auto& op : batch.ops()) {
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
    rocksdb::WriteOptions wo;
    wo.sync = options.sync;
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
    return FromRocks(db_->SyncWAL(), "sync WAL");
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

  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*, std::less<>> cfs_;
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
    o.enable_blob_files = true;
    o.min_blob_size = 4096;
    o.blob_compression_type =
        cf.zstd ? rocksdb::kZSTD : rocksdb::kLZ4Compression;
    o.enable_blob_garbage_collection = true;
    o.blob_file_size = 256 << 20;
  }
  return o;
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
  auto cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = options.background_threads;
  db_options.keep_log_file_num = 5;
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
      new RocksStore(std::unique_ptr<rocksdb::DB>(raw), std::move(handles)));
}

}  // namespace mlpipe::storage
