// The model lifecycle, after TensorFlow Serving: the deployments (the source)
// say which versions should be served; the manager loads each missing
// version (the loader is serving::Servable::Load over the artifact from train)
// and publishes an immutable ServingState - routes resolved to loaded versions
// - behind an atomically swapped pointer. A request takes the state once and
// holds it (and so its versions) for its duration; a new version is loaded
// before the state that drops the old one is published, and the old one is
// freed when its last request ends. gRPC-free.
#ifndef MLPIPE_SERVICES_SCORE_MODEL_MANAGER_H_
#define MLPIPE_SERVICES_SCORE_MODEL_MANAGER_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "clients/routes.h"
#include "common/serving/servable.h"
#include "mlpipe/v1/model.pb.h"
#include "mlpipe/v1/score_service.pb.h"

namespace mlpipe::score {

// Where artifacts come from (train, over gRPC in the service).
class ModelSource {
 public:
  virtual ~ModelSource() = default;
  // "name:version", or "name" for its latest version.
  virtual absl::StatusOr<v1::ModelArtifact> GetModel(
      const std::string& model) = 0;
};

// Every version a route names: its targets, shadows and fallback.
std::vector<std::string> VersionsOf(const v1::Route& route);

// A route as requests use it: its versions resolved to loaded servables.
struct ServingRoute {
  v1::Route route;
  std::vector<std::shared_ptr<const serving::Servable>> targets;
  std::vector<double> upper;  // Cumulative shares of targets, last 1.
  size_t primary = 0;         // The target with the largest share.
  std::vector<std::shared_ptr<const serving::Servable>> shadows;
  std::shared_ptr<const serving::Servable> fallback;  // May be null.
  std::string unavailable;  // Why no target is loaded ("" when one is).

  // The target for u in [0, 1).
  const std::shared_ptr<const serving::Servable>& Pick(double u) const;
  // Who answers when `target` errs or is late: a canary falls back to the
  // primary, the primary to the route's fallback; null when none.
  std::shared_ptr<const serving::Servable> FallbackFor(
      const serving::Servable* target) const;
};

// What requests see. Immutable once published.
struct ServingState {
  std::map<std::string, std::shared_ptr<const serving::Servable>> versions;
  std::map<std::string, ServingRoute> routes;  // By model@alias.
  AliasNames names;  // What requests may call the routes.
  // Published before the stored routes were all read and loaded, and the
  // registry's newer ones taken (a start): a name it does not know may yet
  // come, so a request for one is UNAVAILABLE (retry), not NOT_FOUND. Decided
  // with the state a request read, never with a flag read apart from it.
  bool restoring = false;
};

// Thread-safe.
class ModelManager {
 public:
  // Makes a servable of an artifact: serving::Servable::Load unless given.
  using Loader =
      std::function<absl::StatusOr<std::shared_ptr<serving::Servable>>(
          const v1::ModelArtifact&)>;
  ModelManager(ModelSource* source, std::string default_alias,
               Loader loader = nullptr);

  // The published state; never null.
  std::shared_ptr<const ServingState> Current() const {
    return current_.load(std::memory_order_acquire);
  }

  // A state serving `routes`: versions already loaded are reused, the others
  // loaded now. Not published. With `partial`, versions that fail to load
  // are left out (and reported FAILED) instead of failing the whole.
  absl::StatusOr<std::shared_ptr<ServingState>> Prepare(
      const std::map<std::string, v1::Route>& routes, bool partial);
  // Makes `state` the one requests see; versions it does not hold are
  // released (freed when their last request ends).
  void Publish(std::shared_ptr<const ServingState> state);

  // Every version deployed or being loaded, with its state.
  std::vector<v1::LoadedVersion> Versions() const;

 private:
  absl::StatusOr<std::shared_ptr<const serving::Servable>> LoadVersion(
      const std::string& version);

  ModelSource* const source_;
  const std::string default_alias_;
  const Loader loader_;
  std::atomic<std::shared_ptr<const ServingState>> current_;
  std::mutex prepare_mu_;  // One Prepare at a time.
  mutable std::mutex status_mu_;
  std::map<std::string, v1::LoadedVersion> status_;  // GUARDED_BY(status_mu_)
};

}  // namespace mlpipe::score

#endif  // MLPIPE_SERVICES_SCORE_MODEL_MANAGER_H_
