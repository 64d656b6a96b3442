// The online feature store: per view, the latest feature vector of every
// entity key, answered from memory and kept in RocksDB (loaded back at
// start), plus the history of every value by event time for point-in-time
// look-ups. Each stored value also keeps its row's raw values, which stay on
// disk (the served memory holds the vectors only). gRPC-free.
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
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
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

struct OnlineLookup {
  bool found = false;
  v1::OnlineValue value;
};

// Thread-safe.
class OnlineStore {
 public:
  // Loads every view and its latest values into memory.
  static absl::StatusOr<std::unique_ptr<OnlineStore>> Load(
      storage::Store* store);

  // Creates or replaces a view's definition (values are kept).
  absl::Status PutView(const v1::OnlineView& view);
  absl::StatusOr<v1::OnlineView> GetView(const std::string& name) const;
  // The views of `dataset`; every view when `dataset` is empty.
  std::vector<v1::OnlineView> ViewsOf(const std::string& dataset) const;

  // Stores `rows` (from dataset `version`) durably, then publishes them: a
  // key keeps the row with the latest event time (a later row on a tie), so
  // late-arriving old data never replaces newer values. Also records
  // view.version = max(view.version, version). Takes the rows' raw values.
  absl::Status Upsert(const std::string& view, int64_t version,
                      std::vector<OnlineRow> rows);

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

 private:
  explicit OnlineStore(storage::Store* store) : store_(store) {}
  struct View {
    v1::OnlineView def;
    std::unordered_map<std::string, v1::OnlineValue> latest;
  };
  storage::Store* const store_;
  mutable std::shared_mutex mu_;
  std::map<std::string, View> views_;  // GUARDED_BY(mu_)
};

}  // namespace mlpipe::prep

#endif  // MLPIPE_SERVICES_PREP_ONLINE_STORE_H_
