// Lineage (artifacts, executions and the edges between them) and the model
// registry (aliases with their full history), kept in the orchestrator's
// RocksDB store.
//
// Column families:
//   artifacts  artifact id -> v1::Artifact
//   executions "<run>/<step>" -> v1::LineageNode
//   lineage    "c|<artifact>|<exec>" consumed-by, "p|<exec>|<artifact>"
//   produced,
//              "i|<exec>|<artifact>" inputs-of, "o|<artifact>|<exec>"
//              produced-by
//   aliases    alias -> v1::AliasRecord (current)
//   alias_log  alias \0 <set_at micros, big endian> -> v1::AliasRecord
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_METADATA_STORE_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_METADATA_STORE_H_

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/store.h"
#include "mlpipe/v1/orchestrator_service.pb.h"

namespace mlpipe::orchestrator {

// Thread-safe.
class MetadataStore {
 public:
  static void AddColumnFamilies(storage::Options* options);
  explicit MetadataStore(storage::Store* store) : store_(store) {}

  // Adds to `batch` the execution of `step` in `run` with its inputs (the
  // artifact ids it consumed) and its outputs.
  void RecordExecution(const std::string& run_id, const v1::StepExecution& step,
                       const std::vector<std::string>& inputs,
                       storage::WriteBatch* batch) const;

  // The graph around `id` (an artifact or "<run>/<step>"): everything it was
  // derived from and everything derived from it, up to `depth` hops each way.
  absl::StatusOr<v1::GetLineageResponse> GetLineage(const std::string& id,
                                                    int depth) const;

  // ABORTED when `request` has an expected route revision the alias's
  // current route does not have.
  absl::StatusOr<v1::AliasRecord> SetAlias(const v1::SetAliasRequest& request);
  // What `alias` points to now, or at time `at` (NOT_FOUND when unset then).
  absl::StatusOr<v1::AliasRecord> GetAlias(const std::string& alias,
                                           absl::Time at) const;
  absl::StatusOr<std::vector<v1::AliasRecord>> ListAliases() const;
  absl::StatusOr<std::vector<v1::AliasRecord>> AliasHistory(
      const std::string& alias) const;

 private:
  storage::Store* const store_;
  std::mutex mu_;  // Serializes SetAlias (compare-and-set).
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_METADATA_STORE_H_
