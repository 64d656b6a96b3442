#include "common/events/event_log.h"

#include <algorithm>

#include "common/storage/key_codec.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::events {

std::string EventLog::Key(uint64_t sequence) {
  std::string k;
  storage::AppendU64(&k, sequence);
  return k;
}

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::Open(storage::Store* store,
                                                         std::string source) {
  auto last = store->LastKey(kEventsColumnFamily);
  if (!last.ok()) return last.status();
  uint64_t seq = 0;
  if (last->has_value()) {
    if ((*last)->size() != 8) {
      return absl::DataLossError("event log: malformed key");
    }
    seq = storage::DecodeU64(**last);
  }
  return std::unique_ptr<EventLog>(new EventLog(store, std::move(source), seq));
}

absl::Status EventLog::Commit(storage::WriteBatch batch,
                              std::vector<v1::Event> events,
                              storage::WriteOptions options) {
  {
    std::lock_guard lock(mu_);
    uint64_t seq = last_;
    auto now = google::protobuf::util::TimeUtil::GetCurrentTime();
    for (auto& e : events) {
      e.set_sequence(++seq);
      e.set_source(source_);
      *e.mutable_time() = now;
      batch.Put(kEventsColumnFamily, Key(seq), e.SerializeAsString());
    }
    if (auto s = store_->Write(batch, options); !s.ok()) return s;
    last_ = seq;
  }
  if (!events.empty()) {
    std::lock_guard lock(listeners_mu_);
    for (auto& [id, fn] : listeners_) fn();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Event>> EventLog::Read(
    uint64_t from, const std::vector<std::string>& topics, size_t max,
    uint64_t* next) const {
  std::vector<v1::Event> out;
  from = std::max<uint64_t>(from, 1);
  *next = from;
  uint64_t last = last_sequence();
  if (from > last) return out;
  auto it = store_->Scan(kEventsColumnFamily, "", Key(from));
  for (; it->Valid() && out.size() < max; it->Next()) {
    v1::Event e;
    if (!e.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(StrCat(
          "event log: event ", storage::DecodeU64(it->key()), " is corrupt"));
    }
    if (e.sequence() > last) break;  // Committed after this read started.
    *next = e.sequence() + 1;
    if (topics.empty() ||
        std::find(topics.begin(), topics.end(), e.topic()) != topics.end()) {
      out.push_back(std::move(e));
    }
  }
  if (auto s = it->status(); !s.ok()) return s;
  return out;
}

uint64_t EventLog::last_sequence() const {
  std::lock_guard lock(mu_);
  return last_;
}

int EventLog::AddListener(std::function<void()> fn) {
  std::lock_guard lock(listeners_mu_);
  int id = next_listener_++;
  listeners_[id] = std::move(fn);
  return id;
}

void EventLog::RemoveListener(int id) {
  std::lock_guard lock(listeners_mu_);
  listeners_.erase(id);
}

v1::Event EventLog::Make(std::string topic,
                         std::map<std::string, std::string> attributes) {
  v1::Event e;
  e.set_topic(std::move(topic));
  for (auto& [k, v] : attributes) (*e.mutable_attributes())[k] = std::move(v);
  return e;
}

}  // namespace mlpipe::events
