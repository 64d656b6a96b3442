// Deployments: which model versions serve which alias, with what share of
// traffic, which shadow it, and which one falls back - kept in RocksDB with
// every revision (for RouteHistory and Rollback), served by the
// ModelManager, and published in the orchestrator's model registry (alias ->
// primary version and the whole route, with history). The registry holds
// the one history: scoring replicas share their routes through it (a change
// made through one is published with a compare-and-set on the route's
// revision, a concurrent change through another replica makes it ABORTED,
// and every replica takes the registry's newer routes: Sync), and History /
// Rollback read it. The local route_log is a cache of it, read only while
// the registry is unreachable (and without a registry). gRPC-free.
//
// Column families:
//   routes     model@alias -> v1::Route (current; absent when undeployed)
//   route_log  model@alias \0 <revision, 8 bytes big-endian> -> v1::Route
//              (the registry's history as last seen)
// Routes are keyed by qualified aliases (clients/routes.h); Restore moves
// those of unqualified ones (stored before aliases had models) under the
// model of their primary.
//   events     model.deployed {alias, model_version, percent, shadow,
//              set_by, revision}
#ifndef MLPIPE_SERVICES_SCORE_DEPLOYMENTS_H_
#define MLPIPE_SERVICES_SCORE_DEPLOYMENTS_H_

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/routes.h"
#include "common/events/event_log.h"
#include "common/storage/store.h"
#include "mlpipe/v1/score_service.pb.h"
#include "services/score/model_manager.h"

namespace mlpipe::score {

inline constexpr char kRoutes[] = "routes";
inline constexpr char kRouteLog[] = "route_log";

// The orchestrator's model registry (aliases with history): where every
// scoring replica's routes meet.
class AliasRegistry {
 public:
  virtual ~AliasRegistry() = default;
  // Records `route` as its alias's route (its primary as the alias's
  // version; none for a route without targets) if the registry's route for
  // the alias is still at `expected_revision` (0: none). ABORTED otherwise.
  virtual absl::Status PublishRoute(const v1::Route& route,
                                    int64_t expected_revision,
                                    const std::string& set_by) = 0;
  // Every route the registry holds.
  virtual absl::StatusOr<std::vector<v1::Route>> Routes() = 0;
  // The alias's routes, newest first (RouteHistory); NOT_FOUND when none.
  virtual absl::StatusOr<std::vector<v1::Route>> History(
      const std::string& alias) = 0;
};

// The route after `request` (model_version already resolved to
// "name:version") is applied to `current` (null: the alias has none).
// INVALID_ARGUMENT / FAILED_PRECONDITION naming the field.
absl::StatusOr<v1::Route> NextRoute(const v1::Route* current,
                                    const v1::DeployRequest& request,
                                    const std::string& version);

// Thread-safe; changes are serialized.
class Deployments {
 public:
  // Not owned; all outlive this. `registry` may be null (no mirroring).
  Deployments(storage::Store* store, events::EventLog* events,
              ModelManager* manager, ModelSource* source,
              AliasRegistry* registry, std::string default_alias);

  // Reads the stored routes and loads their versions (those that fail are
  // reported and retried by the next Restore). OK once every version
  // loaded; the error names those that did not.
  absl::Status Restore();
  // True once Restore loaded every deployed version.
  bool ready() const;
  // Takes the registry's routes that are newer than this replica's (changed
  // through another scoring replica): loads their versions, stores and
  // serves them. True when something changed. Call after Restore, and then
  // periodically.
  absl::StatusOr<bool> Sync();

  absl::StatusOr<v1::DeployResponse> Deploy(const v1::DeployRequest& request);
  // The route is the request's alias of the version's model (an alias
  // given as MODEL@ALIAS is taken as it is).
  absl::StatusOr<v1::ListDeploymentsResponse> Undeploy(
      const v1::UndeployRequest& request);
  absl::StatusOr<v1::Route> Rollback(const v1::RollbackRequest& request);
  v1::ListDeploymentsResponse List() const;
  // The registry's history of the alias, newest first (this replica's
  // cache of it while the registry is unreachable). `name` as
  // score::AliasNames takes it, like Rollback's alias.
  absl::StatusOr<std::vector<v1::Route>> History(const std::string& name) const;

 private:
  // The key of the route `r` changes: its alias of the model of `version`
  // (or of its split's versions).
  static absl::StatusOr<std::string> RouteKey(const v1::DeployRequest& r,
                                              const std::string& version);
  // The route key `name` stands for among the routes served.
  absl::StatusOr<std::string> Find(const std::string& name) const;
  // Moves the routes and route log of unqualified aliases under their
  // models' names. REQUIRES: change_mu_ held, before ReadRoutes.
  absl::Status MigrateLegacyRoutes();
  // Loads `next` (all or nothing), publishes the changed routes in the
  // registry (compare-and-set on their revisions; undone when a later step
  // fails), stores them with `events`, then serves them. REQUIRES: change_mu_
  // held.
  absl::Status Change(std::map<std::string, v1::Route> next,
                      const std::vector<std::string>& changed,
                      std::vector<v1::Event> events, const std::string& set_by);
  absl::StatusOr<std::map<std::string, v1::Route>> ReadRoutes() const;
  // The alias's routes in the local cache, newest first.
  absl::StatusOr<std::vector<v1::Route>> CachedHistory(
      const std::string& alias) const;
  // Adds the registry's history of `alias` to the cache in `b`.
  void CacheHistory(const std::string& alias, storage::WriteBatch& b) const;
  // The alias's current revision, or its last logged one once undeployed
  // (0: never deployed). REQUIRES: change_mu_ held.
  int64_t LastRevisionLocked(const std::string& alias) const;
  // REQUIRES: mu_ or change_mu_ held.
  v1::ListDeploymentsResponse ListLocked() const;
  // The route with the versions it names.
  v1::DeployResponse Response(const v1::Route& route) const;
  // FAILED_PRECONDITION when a version `next` adds to `current` takes other
  // requests (task, input fields) than current's primary.
  absl::Status CheckSchema(const v1::Route& current,
                           const v1::Route& next) const;
  absl::Status Check(const char* kind, absl::Status s) const;

  storage::Store* const store_;
  events::EventLog* const events_;
  ModelManager* const manager_;
  ModelSource* const source_;
  AliasRegistry* const registry_;
  const std::string default_alias_;
  // Changes (deploy, undeploy, rollback, restore, sync) hold change_mu_
  // from start to end, loading versions included; they take mu_ only to
  // publish what they changed. Queries (List, ready) take mu_ alone, so a
  // slow load never blocks them (LevelDB's compaction / TF Serving's
  // loader threads do the same).
  std::mutex change_mu_;
  mutable std::mutex mu_;
  // Written with both held; read with either.
  std::map<std::string, v1::Route> routes_;
  bool restored_ = false;  // routes_ read.
  bool ready_ = false;     // Every version loaded.
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_DEPLOYMENTS_H_
