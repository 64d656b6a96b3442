// The online store's latest feature vectors in Redis, as Feast keeps them:
// one key per entity per view, holding the precomputed vector and its event
// time. Prep writes it (a copy of its embedded store's latest values; the
// history for point-in-time reads stays in prep), scoring replicas read it
// directly. One class for both sides, so the layout is written once:
//
//   mlpipe:online:fs:<feature set id>  -> the name of its online view
//   mlpipe:online:view:<view>          -> v1::OnlineView; `version` is the
//                                         dataset version written so far
//   mlpipe:online:val:<view>\0<key>    -> v1::OnlineValue (without raw)
//
// Values are written before the view that counts them, so a view's version
// in Redis never claims values that are not there. gRPC-free, thread-safe.
#ifndef MLPIPE_COMMON_REDIS_ONLINE_REDIS_H_
#define MLPIPE_COMMON_REDIS_ONLINE_REDIS_H_

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/redis/redis.h"
#include "mlpipe/v1/feature_set.pb.h"

namespace mlpipe::redis {

// Where online feature vectors are served from.
struct OnlineStoreConfig {
  std::string url;  // "" or "embedded": prep's own store; or redis://...
  PoolOptions pool;
};
// --online_store, --online_store_timeout_ms, --online_store_connections.
OnlineStoreConfig OnlineStoreConfigFromFlags();
class OnlineRedis;
// The Redis online store of `config` (nullptr for the embedded store), its
// address logged as `role` uses it; INVALID_ARGUMENT naming --online_store
// for a bad URL.
absl::StatusOr<std::unique_ptr<OnlineRedis>> OpenOnlineStore(
    const OnlineStoreConfig& config, std::string_view role);

class OnlineRedis {
 public:
  explicit OnlineRedis(std::unique_ptr<Pool> pool) : pool_(std::move(pool)) {}
  const Address& address() const { return pool_->address(); }

  // Writer (prep).
  // The view as Redis has it; nullopt when it has no such view.
  absl::StatusOr<std::optional<v1::OnlineView>> StoredView(
      const std::string& view);
  // Writes `values` (entity key -> value, without raw values), then the
  // feature sets' names for the view, then the view itself; large writes go
  // in pipelined chunks. Unless `create`, the view must be in Redis already:
  // NOT_FOUND when it is not (Redis lost it, so only a whole write mends
  // it). The values must outlive the call.
  using ValueRefs =
      std::vector<std::pair<std::string_view, const v1::OnlineValue*>>;
  absl::Status Write(const v1::OnlineView& view, const ValueRefs& values,
                     bool create);

  // Reader (scoring). One vector per key, in `features` order (all of the
  // view's when empty); nullopt for an unknown key. `feature_set` is a
  // feature set id ("fs-...") or a view name. NOT_FOUND when Redis has no
  // such feature set; UNAVAILABLE when Redis does not answer, or has lost
  // the view (restarted or flushed: prep writes it again) so that a
  // missing key would mean nothing.
  absl::StatusOr<std::vector<std::optional<std::vector<double>>>> Get(
      const std::string& feature_set, const std::vector<std::string>& keys,
      const std::vector<std::string>& features);

 private:
  struct ViewInfo {
    std::string name;
    std::vector<std::string> features;
  };
  absl::StatusOr<std::shared_ptr<const ViewInfo>> Resolve(
      const std::string& feature_set);
  // The stored values of `keys` in `view` (nil for unknown keys), in one
  // round trip; UNAVAILABLE when Redis has lost the view.
  absl::StatusOr<std::vector<Reply>> Fetch(
      const std::string& view, const std::vector<std::string>& keys);

  const std::unique_ptr<Pool> pool_;
  std::mutex mu_;
  // Feature set -> its view (a view's features never change: its name
  // holds its transform's id). Bounded: cleared when full.
  std::unordered_map<std::string, std::shared_ptr<const ViewInfo>>
      views_;  // GUARDED_BY(mu_)
};

}  // namespace mlpipe::redis

#endif  // MLPIPE_COMMON_REDIS_ONLINE_REDIS_H_
