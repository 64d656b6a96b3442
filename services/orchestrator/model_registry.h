// The model registry: every alias of every model (credit@production,
// credit@staging, ...; see clients/routes.h) with the model version it
// points to, the scoring route that serves it, and its whole
// history - the one history of deployments: scoring replicas publish their
// routes here (compare-and-set on the route's revision), take the others'
// from here, and read History / Rollback from here. Hosted in the
// orchestrator process behind its alias RPCs; kept in its RocksDB store.
//
// Column families:
//   aliases    model@alias -> v1::AliasRecord (current)
//   alias_log  model@alias \0 <set_at micros, big endian> -> v1::AliasRecord
//
// Aliases once were one namespace ("production"); Migrate moves such
// records under the model each names.
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_MODEL_REGISTRY_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_MODEL_REGISTRY_H_

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/storage/store.h"
#include "mlpipe/v1/orchestrator_service.pb.h"
#include "services/orchestrator/metadata_store.h"

namespace mlpipe::orchestrator {

// Thread-safe.
class ModelRegistry {
 public:
  static void AddColumnFamilies(storage::Options* options);
  // Not owned; both outlive this. `lineage` records changes made outside
  // a run.
  ModelRegistry(storage::Store* store, const MetadataStore* lineage)
      : store_(store), lineage_(lineage) {}

  // Moves records of unqualified aliases ("production", from before
  // aliases had models) under the model each names ("credit@production").
  // Idempotent; call before serving.
  absl::Status Migrate();

  // `request.alias` is "credit@production", or "production" with a
  // model_version of credit. ABORTED when `request` has an expected route
  // revision the alias's current route does not have.
  absl::StatusOr<v1::AliasRecord> SetAlias(const v1::SetAliasRequest& request);
  // What `alias` (a name as score::AliasNames takes) points to now, or at
  // time `at` (NOT_FOUND when unset then; INVALID_ARGUMENT when ambiguous).
  absl::StatusOr<v1::AliasRecord> GetAlias(const std::string& alias,
                                           absl::Time at) const;
  absl::StatusOr<std::vector<v1::AliasRecord>> ListAliases() const;
  // In the order set.
  absl::StatusOr<std::vector<v1::AliasRecord>> AliasHistory(
      const std::string& alias) const;

 private:
  // The key `name` stands for among the aliases set.
  absl::StatusOr<std::string> Find(const std::string& name) const;
  absl::StatusOr<v1::Route> RouteToRecord(const v1::SetAliasRequest& request,
                                          const std::string& key,
                                          const std::string& set_by,
                                          absl::Time now) const;

  storage::Store* const store_;
  const MetadataStore* const lineage_;
  std::mutex mu_;  // Serializes SetAlias (compare-and-set).
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_MODEL_REGISTRY_H_
