// Versioned model artifacts in RocksDB (column family "models"):
//   a/<name>/<version, 12 digits> -> v1::ModelArtifact
// Each artifact carries the SHA-256 of its content, checked on every load.
// gRPC-free.
#ifndef MLPIPE_SERVICES_TRAIN_MODEL_STORE_H_
#define MLPIPE_SERVICES_TRAIN_MODEL_STORE_H_

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/store.h"
#include "mlpipe/v1/model.pb.h"

namespace mlpipe::train {

inline constexpr char kModelsColumnFamily[] = "models";

// The artifact without its bulky fields (learned parameters, transform).
v1::ModelArtifact Summary(const v1::ModelArtifact& artifact);

// Thread-safe.
class ModelStore {
 public:
  explicit ModelStore(storage::Store* store) : store_(store) {}

  // Writes a batch that holds the artifact (and whatever the caller adds).
  using Commit = std::function<absl::Status(const v1::ModelArtifact& artifact,
                                            storage::WriteBatch batch)>;
  // Stores `artifact` (its name set) as the next version of its name, with
  // id and sha256 filled in, and returns it. `commit` (default: a synced
  // store write) writes the batch, so callers can add their own records and
  // events atomically with it.
  absl::StatusOr<v1::ModelArtifact> Add(v1::ModelArtifact artifact,
                                        const Commit& commit = nullptr);
  // `id` is "<name>:<version>" or "<name>" (the latest). NOT_FOUND when
  // absent; DATA_LOSS when the stored bytes do not match their hash.
  absl::StatusOr<v1::ModelArtifact> Get(const std::string& id) const;
  // Summaries, newest version first per name, names in order; at most
  // `limit`.
  absl::StatusOr<std::vector<v1::ModelArtifact>> List(const std::string& name,
                                                      int limit) const;

 private:
  storage::Store* const store_;
  std::mutex add_mu_;  // Serializes version numbering.
};

}  // namespace mlpipe::train

#endif  // MLPIPE_SERVICES_TRAIN_MODEL_STORE_H_
