// The online feature store: per view, the latest feature vector of every
// entity key, answered from memory and kept in RocksDB (loaded back at
// start), plus the history of every value by event time for point-in-time
// look-ups. Each stored value also keeps its row's raw values, which stay on
// disk (the served memory holds the vectors only). gRPC-free.
//
// With a Redis online store (common/redis/online_redis.h) the latest values
// are also copied there after each durable upsert, for scoring replicas to
// read directly. This store stays the authority: a view whose copy may
// differ (Redis was down, a write failed, the process restarted) is written
// whole again by SyncMirror, which the prep module runs every few seconds.
//
// Column families:
//   online:          "v/<view>" -> v1::OnlineView
//                    "l/<view>\0<key>" -> v1::OnlineValue (latest)
//   online_history:  "<view>\0<key>\0<event time, 8 bytes big-endian,
//                    order-preserving>" -> v1::OnlineValue
#ifndef MLPIPE_SERVICES_PREP_ONLINE_STORE_H_
#define MLPIPE_SERVICES_PREP_ONLINE_STORE_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "common/redis/online_redis.h"
#include "common/storage/store.h"
#include "mlpipe/v1/feature_set.pb.h"

namespace mlpipe::prep {

inline constexpr char kOnline[] = "online";
inline constexpr char kOnlineHistory[] = "online_history";

struct OnlineRow {
  std::string key;
  int64_t event_micros = 0;  // 0 without an event-time column.
  std::vector<double> values;
  google::protobuf::ListValue raw;  // The view's raw_columns.
};

// What Upsert writes of its rows.
enum class UpsertParts {
  kAll,      // The latest values and the history.
  kLatest,   // The latest values only (pushed rows: their history is
             // written when they are compacted into a version).
  kHistory,  // The history only (a version whose rows were pushed).
};

struct OnlineLookup {
  bool found = false;
  v1::OnlineValue value;
};

// Thread-safe.
class OnlineStore {
 public:
  // Loads every view and its latest values into memory. `mirror`: the
  // Redis copy (null: none); not owned, outlives the store.
  static absl::StatusOr<std::unique_ptr<OnlineStore>> Load(
      storage::Store* store, redis::OnlineRedis* mirror = nullptr);

  // Creates or replaces a view's definition (values are kept; its
  // feature_sets are added to the stored ones).
  absl::Status PutView(const v1::OnlineView& view);
  absl::StatusOr<v1::OnlineView> GetView(const std::string& name) const;
  // The views of `dataset`; every view when `dataset` is empty.
  std::vector<v1::OnlineView> ViewsOf(const std::string& dataset) const;

  // Stores `rows` (from dataset `version`) durably, then publishes them: a
  // key keeps the row with the latest event time (a later row on a tie), so
  // late-arriving old data never replaces newer values. Also records
  // view.version = max(view.version, version) and view.pushed_through =
  // max(view.pushed_through, pushed_through) in the same write. Takes the
  // rows' raw values. `sync` false: stored without an fsync (survives
  // kill -9, not a machine crash; for pushed rows, which the push log
  // keeps: the view's pushed_through goes back with them and they are
  // applied again).
  absl::Status Upsert(const std::string& view, int64_t version,
                      std::vector<OnlineRow> rows, int64_t pushed_through = 0,
                      bool sync = true, UpsertParts parts = UpsertParts::kAll);

  // The latest values of `key` (from memory; with `raw` also the raw
  // values, read from disk).
  absl::StatusOr<OnlineLookup> Latest(const std::string& view,
                                      const std::string& key,
                                      bool raw = false) const;
  // The values of `key` at `as_of_micros`: the last event time <= as_of.
  // FAILED_PRECONDITION when the view has no event-time column.
  absl::StatusOr<OnlineLookup> AsOf(const std::string& view,
                                    const std::string& key,
                                    int64_t as_of_micros,
                                    bool raw = false) const;

  // Checks the Redis copy of every view: one that counts as many writes
  // (and the same version) as this store matches; any other (behind, lost,
  // partly written) is written whole. OK without a mirror. The first
  // error, after trying every view.
  absl::Status SyncMirror();
  // Views whose Redis copy may differ (0 without a mirror).
  size_t ViewsBehind() const;

 private:
  OnlineStore(storage::Store* store, redis::OnlineRedis* mirror)
      : store_(store), mirror_(mirror) {}
  using Values = std::vector<std::pair<std::string, v1::OnlineValue>>;
  // Writes `values` of `def` to the mirror when its copy matched so far
  // (one that may differ is left to SyncMirror), and records whether it
  // still does. Called with mirror_mu_ held, after mu_ was released.
  void Mirror(const v1::OnlineView& def, const Values& values);
  // mirror_mu_, locked: every writer takes it first.
  std::unique_lock<std::mutex> MirrorLock() const;
  struct View {
    v1::OnlineView def;
    std::unordered_map<std::string, v1::OnlineValue> latest;
  };
  storage::Store* const store_;
  redis::OnlineRedis* const mirror_;
  mutable std::shared_mutex mu_;
  std::map<std::string, View> views_;  // GUARDED_BY(mu_)
  // Taken before mu_ (never the other way round) by every writer and kept
  // while Redis is written, so writes reach Redis in the order they were
  // made, and mu_ is never held while Redis is written.
  mutable std::mutex mirror_mu_;
  std::set<std::string> mirrored_;  // GUARDED_BY(mirror_mu_)
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_ONLINE_STORE_H_
