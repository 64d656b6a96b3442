// The durable outbox of one service. A state change and the events that
// report it are written in one atomic RocksDB write, so an event exists if
// and only if its change does. Subscribers read from a sequence number and
// resume from the last one they handled.
#ifndef MLPIPE_COMMON_EVENTS_EVENT_LOG_H_
#define MLPIPE_COMMON_EVENTS_EVENT_LOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/storage/store.h"
#include "mlpipe/v1/events.pb.h"

namespace mlpipe::events {

// The column family the log keeps its events in; services list it in their
// storage::Options.
inline constexpr char kEventsColumnFamily[] = "events";

// Thread-safe.
class EventLog {
 public:
  // Opens the log of `source` ("ingest", ...) in `store` (not owned).
  static absl::StatusOr<std::unique_ptr<EventLog>> Open(storage::Store* store,
                                                        std::string source);

  const std::string& source() const { return source_; }

  // Writes `batch` together with `events` (sequence, source and time are
  // filled in here), atomically. Sequences are dense and follow commit order.
  absl::Status Commit(storage::WriteBatch batch, std::vector<v1::Event> events,
                      storage::WriteOptions options = {});

  // Up to `max` events with sequence >= `from`, optionally only `topics`.
  // `*next` is set to the sequence to read from next time (past events that
  // were skipped for their topic too).
  absl::StatusOr<std::vector<v1::Event>> Read(
      uint64_t from, const std::vector<std::string>& topics, size_t max,
      uint64_t* next) const;

  // The sequence of the last committed event (0 when there is none).
  uint64_t last_sequence() const;

  // `fn` is called after every commit that added events (from the committing
  // thread, so it must not block). Returns an id for RemoveListener, which
  // waits for a running call of `fn` to end.
  int AddListener(std::function<void()> fn);
  void RemoveListener(int id);

  // A convenience for building events.
  static v1::Event Make(std::string topic,
                        std::map<std::string, std::string> attributes);

 private:
  EventLog(storage::Store* store, std::string source, uint64_t last)
      : store_(store), source_(std::move(source)), last_(last) {}
  static std::string Key(uint64_t sequence);

  storage::Store* const store_;
  const std::string source_;
  mutable std::mutex mu_;  // Serializes commits so sequences follow order.
  uint64_t last_;          // GUARDED_BY(mu_)
  std::mutex listeners_mu_;
  std::map<int, std::function<void()>> listeners_;  // GUARDED_BY(listeners_mu_)
  int next_listener_ = 0;                           // GUARDED_BY(listeners_mu_)
};

}  // namespace mlpipe::events

#endif  // MLPIPE_COMMON_EVENTS_EVENT_LOG_H_
