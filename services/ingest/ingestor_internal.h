// What the ingestor's files share: its column families, metrics, keys, and
// the upload and the batch reader it hands out. Internal to services/ingest.
#ifndef MLPIPE_SERVICES_INGEST_INGESTOR_INTERNAL_H_
#define MLPIPE_SERVICES_INGEST_INGESTOR_INTERNAL_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "common/metrics/metrics.h"
#include "common/storage/key_codec.h"
#include "common/util/strings.h"
#include "services/ingest/ingestor.h"

namespace mlpipe::ingest {

using Clock = std::chrono::steady_clock;

inline constexpr char kDatasets[] = "datasets";
inline constexpr char kBatches[] = "batches";
inline constexpr char kBlocks[] = "blocks";
inline constexpr char kIdempotency[] = "idempotency";
inline constexpr char kPending[] = "pending";
inline constexpr char kRowHashes[] = "row_hashes";
inline constexpr char kPush[] = "push";  // services/ingest/pusher.h

inline double Seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Process-wide ingest metrics.
struct Metrics {
  prometheus::Counter& rows;
  prometheus::Counter& bytes;
  prometheus::Counter& batches;
  prometheus::Family<prometheus::Counter>& rejections;
  prometheus::Histogram& batch_seconds;

  static Metrics& Get();
  void Reject(std::string_view reason) {
    rejections.Add({{"reason", std::string(reason)}}).Increment();
  }
};

// The rejection reason for a failed upload's status.
std::string_view ReasonOf(const absl::Status& s);

inline std::string BlockKey(std::string_view batch_id, uint32_t block,
                            uint32_t col) {
  std::string k(batch_id);
  storage::AppendU32(&k, block);
  storage::AppendU32(&k, col);
  return k;
}

// Whether IngestHeader.encoding `e` names Latin-1; OK when it names
// Latin-1 or UTF-8 ("" is UTF-8), in any case.
inline bool IsLatin1(const std::string& e) {
  return absl::EqualsIgnoreCase(e, "latin1") ||
         absl::EqualsIgnoreCase(e, "latin-1") ||
         absl::EqualsIgnoreCase(e, "iso-8859-1");
}
inline bool IsUtf8(const std::string& e) {
  return e.empty() || absl::EqualsIgnoreCase(e, "utf-8") ||
         absl::EqualsIgnoreCase(e, "utf8");
}

inline std::string RowHashKey(std::string_view batch_id, uint32_t block) {
  std::string k(batch_id);
  storage::AppendU32(&k, block);
  return k;
}

inline std::string IdempotencyKey(std::string_view dataset,
                                  std::string_view key) {
  return StrCat(dataset, std::string_view("\0", 1), key);
}

template <typename Msg>
absl::StatusOr<Msg> GetProto(const storage::Store* store, std::string_view cf,
                             std::string_view key) {
  auto raw = store->Get(cf, key);
  if (!raw.ok()) return raw.status();
  Msg msg;
  if (!msg.ParseFromString(*raw)) {
    return absl::DataLossError(StrCat(cf, " record '", key, "' is corrupt"));
  }
  return msg;
}

// Why a batch's schema cannot be added to a dataset; OK when it can.
absl::Status CheckCompatible(const v1::Dataset& dataset,
                             const v1::Schema& batch);

// Stores a finished upload's batch as a new dataset version
// (Ingestor::Commit). `stored_before`: the batch is an earlier upload's that
// the same idempotency key named (nothing new was stored).
using CommitFn = std::function<absl::StatusOr<v1::IngestResponse>(
    v1::Batch, const v1::IngestHeader&, bool stored_before)>;

// An upload of `header`'s rows into `existing` (nullopt: a new dataset).
// `replay_batch`: the batch an earlier upload with the same key stored;
// `release` frees the key when the upload ends. Started (its worker
// thread running).
absl::StatusOr<std::unique_ptr<Upload>> NewUpload(
    CommitFn commit, storage::Store* store, const IngestorOptions& options,
    v1::IngestHeader header, std::optional<v1::Dataset> existing,
    std::string replay_batch, std::function<void()> release);

// Frames of `batches`' blocks, each column cast to `fields`' types.
std::unique_ptr<FrameReader> NewBatchReader(const storage::Store* store,
                                            std::vector<v1::Batch> batches,
                                            std::vector<v1::Field> fields,
                                            size_t max_rows,
                                            size_t target_bytes);

}  // namespace mlpipe::ingest

#endif  // MLPIPE_SERVICES_INGEST_INGESTOR_INTERNAL_H_
