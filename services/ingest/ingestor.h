// The ingestion domain: datasets made of immutable batches of raw rows,
// stored columnar in compressed blocks in RocksDB. No gRPC here.
//
// Storage (column families):
//   datasets     name                      -> v1::Dataset
//   batches      batch id                  -> v1::Batch
//   blocks       batch id|block u32|col u32 -> v1::Column (one column of a
//                                              block)
//   row_hashes   batch id|chunk u32        -> row hashes of the batch's rows
//                                              (row_hashes.h)
//   idempotency  dataset \0 key            -> batch id
//   pending      batch id                  -> dataset (uploads in progress)
//   events                                 the outbox (common/events)
// A batch becomes visible in one synced write that adds its batch record, the
// dataset's new version, its idempotency key and its event; blocks written
// before that are invisible, and blocks of uploads that never committed are
// deleted when the store is opened again.
#ifndef MLPIPE_SERVICES_INGEST_INGESTOR_H_
#define MLPIPE_SERVICES_INGEST_INGESTOR_H_

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/events/event_log.h"
#include "common/storage/store.h"
#include "common/table/frame_reader.h"
#include "mlpipe/v1/ingest_service.pb.h"

namespace mlpipe::ingest {

struct IngestorOptions {
  // Behaviour --------------------------------------------------------------
  // IngestFile reads files only below this directory; empty disables
  // IngestFile. Default empty.
  std::string import_root;
  // Rows per stored block. Default 65536.
  size_t block_rows = 65536;
  // ReadBatches frames carry at most this many rows unless the request asks
  // for fewer. Default 65536.
  size_t max_rows_per_frame = 65536;
  // ReadBatches cuts frames to stay below about this many bytes. Default 4 MiB.
  size_t target_frame_bytes = 4 << 20;
  // Performance ------------------------------------------------------------
  // Parsed blocks waiting to be stored, per upload, before the upload's
  // reader waits (storing is the slower side: one keeps it busy). Default 1.
  size_t store_queue_blocks = 1;
};

class Upload;
using table::FrameReader;

// Thread-safe.
class Ingestor {
 public:
  // The store options (column families) an ingest store needs.
  static storage::Options StorageOptions();

  // `store` and `events` are not owned and must outlive the ingestor.
  // Deletes blocks left by uploads that never committed.
  static absl::StatusOr<std::unique_ptr<Ingestor>> Open(
      IngestorOptions options, storage::Store* store, events::EventLog* events);
  ~Ingestor();

  // Starts an upload. INVALID_ARGUMENT for a bad header; ABORTED when an
  // upload with the same idempotency key is in progress.
  absl::StatusOr<std::unique_ptr<Upload>> BeginUpload(
      const v1::IngestHeader& header);

  // Ingests a file below the import root. INVALID_ARGUMENT for a path that
  // leaves the root (.., absolute, symlinks), NOT_FOUND when absent,
  // FAILED_PRECONDITION when there is no import root.
  absl::StatusOr<v1::IngestResponse> IngestFile(
      const v1::IngestFileRequest& request);

  absl::StatusOr<v1::Dataset> GetDataset(const std::string& name) const;
  absl::StatusOr<std::vector<v1::Dataset>> ListDatasets() const;
  // Every batch of a dataset (of any version), in the order they came.
  absl::StatusOr<std::vector<v1::Batch>> ListBatches(
      const v1::Dataset& dataset) const;
  absl::StatusOr<v1::Batch> GetBatch(const std::string& id) const;
  // Deletes the dataset, its batches, blocks and idempotency keys in one
  // write, and emits dataset.deleted. Returns the number of batches deleted.
  absl::StatusOr<int64_t> DeleteDataset(const std::string& name);

  // A new version made of version `version`'s batches (undoing the changes
  // since). NOT_FOUND for no such version; FAILED_PRECONDITION when one of
  // its batches was deleted.
  absl::StatusOr<v1::Dataset> RevertDataset(const std::string& name,
                                            int64_t version);
  // A new version without batch `batch_id`, whose rows are deleted;
  // versions that contained it can no longer be read.
  absl::StatusOr<v1::Dataset> DeleteBatch(const std::string& dataset,
                                          const std::string& batch_id);

  // Test hook: uploads begun and not yet committed or aborted.
  size_t TEST_UploadsInProgress() const;

  // A reader of frames for `request`. NOT_FOUND for an unknown dataset or
  // batch; INVALID_ARGUMENT for an unknown column.
  absl::StatusOr<std::unique_ptr<FrameReader>> Read(
      const v1::ReadBatchesRequest& request) const;

 private:
  Ingestor(IngestorOptions options, storage::Store* store,
           events::EventLog* events)
      : options_(std::move(options)), store_(store), events_(events) {}
  absl::Status RecoverPendingUploads();
  // The stored dataset as it is, its schema unchecked (GetDataset checks it).
  absl::StatusOr<v1::Dataset> ReadDataset(const std::string& name) const;
  // Commits a finished upload as a new version (see the file comment and
  // v1::IngestMode); `stored_before`: a retried upload's earlier batch.
  absl::StatusOr<v1::IngestResponse> Commit(v1::Batch batch,
                                            const v1::IngestHeader& header,
                                            bool stored_before);
  // The dataset `batch` goes into (new, or stored and checked against it).
  absl::StatusOr<v1::Dataset> DatasetFor(const v1::Batch& batch) const;
  // Adds a version made of `batches` (`made_by`: the batch an upload
  // stored, if any) to `dataset` and commits it with `wb` and its event.
  // `within_after`: the version before, whose duplicate count the last
  // batch's own is added to (IngestHeader.duplicates_within_batch); null:
  // every batch's rows are compared. `pushed_through`: the batch holds
  // pushed rows through that push log position (the event says so).
  absl::StatusOr<v1::DatasetVersion> AddVersion(
      v1::Dataset& dataset, const std::vector<v1::Batch>& batches,
      const std::string& made_by, const std::string& change,
      storage::WriteBatch wb, int64_t* in_last = nullptr,
      const v1::DatasetVersion* within_after = nullptr,
      int64_t pushed_through = 0);
  // Rows of `batches` identical to an earlier row of them (`in_last`: of
  // the last batch's rows).
  absl::StatusOr<int64_t> DuplicateRows(const std::vector<v1::Batch>& batches,
                                        int64_t* in_last = nullptr) const;
  // A batch's row hashes, per stored block (computed from its rows and
  // stored when the upload did not keep them).
  absl::StatusOr<std::vector<std::vector<uint64_t>>> RowHashesOf(
      const v1::Batch& batch) const;
  absl::StatusOr<std::vector<v1::Batch>> GetBatches(
      const std::vector<std::string>& ids) const;
  void DeleteBatchData(const std::string& id, storage::WriteBatch* wb) const;
  void ReleaseKey(const std::string& key);

  const IngestorOptions options_;
  storage::Store* const store_;
  events::EventLog* const events_;
  std::mutex commit_mu_;  // Serializes dataset version updates.
  std::mutex keys_mu_;
  std::set<std::string> keys_in_flight_;  // GUARDED_BY(keys_mu_)
};

// One upload in progress. Not thread-safe; use from one thread at a time.
// Destroying an unfinished upload aborts it: nothing of it stays stored.
class Upload {
 public:
  virtual ~Upload() = default;
  // Adds CSV / JSONL bytes, split anywhere.
  virtual absl::Status AddChunk(std::string_view bytes) = 0;
  // Adds typed rows (format FRAMES).
  virtual absl::Status AddFrame(v1::Frame&& frame) = 0;
  // Ends the input and commits the batch durably.
  virtual absl::StatusOr<v1::IngestResponse> Finish() = 0;
};

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_INGESTOR_H_
