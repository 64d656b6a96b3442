// Lineage (artifacts, executions and the edges between them), kept in the
// orchestrator's RocksDB store.
//
// Column families:
//   artifacts  artifact id -> v1::Artifact
//   executions "<run>/<step>" -> v1::LineageNode
//   lineage    "c|<artifact>|<exec>" consumed-by, "p|<exec>|<artifact>"
//   produced,
//              "i|<exec>|<artifact>" inputs-of, "o|<artifact>|<exec>"
//              produced-by
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_METADATA_STORE_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_METADATA_STORE_H_

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

  // Adds to `batch` an alias change made outside a run (an operator, the
  // monitor's rollback) as an execution of its own, downstream of the model.
  void RecordAliasChange(const v1::AliasRecord& record,
                         storage::WriteBatch* batch) const;

 private:
  storage::Store* const store_;
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_METADATA_STORE_H_
