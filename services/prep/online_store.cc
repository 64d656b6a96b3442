#include "services/prep/online_store.h"

#include <algorithm>
#include <mutex>

#include "common/metrics/metrics.h"
#include "common/util/log.h"
#include "common/util/strings.h"

namespace mlpipe::prep {
namespace {

std::string ViewKey(const std::string& view) { return "v/" + view; }

std::string LatestKey(const std::string& view, const std::string& key) {
  std::string k = "l/" + view;
  k.push_back('\0');
  k += key;
  return k;
}

std::string HistoryPrefix(const std::string& view, const std::string& key) {
  std::string k = view;
  k.push_back('\0');
  k += key;
  k.push_back('\0');
  return k;
}

// Big-endian with the sign bit flipped: byte order is numeric order.
void AppendOrdered(int64_t v, std::string* out) {
  uint64_t u = static_cast<uint64_t>(v) ^ (uint64_t{1} << 63);
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(u >> (i * 8)));
}

int64_t ReadOrdered(std::string_view b) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<uint8_t>(b[i]);
  return static_cast<int64_t>(u ^ (uint64_t{1} << 63));
}

prometheus::Gauge& ViewsBehindGauge() {
  static prometheus::Gauge* g =
      &prometheus::BuildGauge()
           .Name("mlpipe_prep_online_mirror_views_behind")
           .Help(
               "Online views whose copy in the Redis online store may "
               "differ from prep's (written whole again every few "
               "seconds until it matches).")
           .Register(metrics::Registry())
           .Add({});
  return *g;
}

}  // namespace

absl::StatusOr<std::unique_ptr<OnlineStore>> OnlineStore::Load(
    storage::Store* store, redis::OnlineRedis* mirror) {
  std::unique_ptr<OnlineStore> s(new OnlineStore(store, mirror));
  for (auto it = store->Scan(kOnline, "v/"); it->Valid(); it->Next()) {
    v1::OnlineView v;
    if (!v.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size())))
      return absl::DataLossError(StrCat("online view ", it->key(), " corrupt"));
    s->views_[v.name()].def = std::move(v);
  }
  for (auto it = store->Scan(kOnline, "l/"); it->Valid(); it->Next()) {
    std::string_view k = it->key().substr(2);
    size_t sep = k.find('\0');
    if (sep == std::string_view::npos) continue;
    auto view = s->views_.find(std::string(k.substr(0, sep)));
    if (view == s->views_.end()) continue;
    v1::OnlineValue value;
    if (!value.ParseFromArray(it->value().data(),
                              static_cast<int>(it->value().size())))
      return absl::DataLossError(StrCat("online value ", k, " corrupt"));
    value.clear_raw();
    view->second.latest[std::string(k.substr(sep + 1))] = std::move(value);
  }
  return s;
}

absl::Status OnlineStore::PutView(const v1::OnlineView& view) {
  std::unique_lock<std::mutex> mirror_lock = MirrorLock();
  std::unique_lock lock(mu_);
  v1::OnlineView def = view;
  if (auto it = views_.find(view.name()); it != views_.end()) {
    const v1::OnlineView& old = it->second.def;
    def.set_version(std::max(def.version(), old.version()));
    def.set_writes(std::max(def.writes(), old.writes()));
    def.set_pushed_through(
        std::max(def.pushed_through(), old.pushed_through()));
    for (const auto& fs : old.feature_sets()) {
      const auto& have = def.feature_sets();
      if (std::find(have.begin(), have.end(), fs) == have.end())
        def.add_feature_sets(fs);
    }
  }
  if (auto s = store_->Put(kOnline, ViewKey(view.name()),
                           def.SerializeAsString(), {.sync = true});
      !s.ok())
    return s;
  views_[view.name()].def = def;
  if (mirror_ == nullptr) return absl::OkStatus();
  lock.unlock();
  Mirror(def, {});
  return absl::OkStatus();
}

std::unique_lock<std::mutex> OnlineStore::MirrorLock() const {
  return std::unique_lock<std::mutex>(mirror_mu_);
}

absl::StatusOr<v1::OnlineView> OnlineStore::GetView(
    const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = views_.find(name);
  if (it == views_.end())
    return absl::NotFoundError(StrCat("online view '", name, "' not found"));
  return it->second.def;
}

std::vector<v1::OnlineView> OnlineStore::ViewsOf(
    const std::string& dataset) const {
  std::shared_lock lock(mu_);
  std::vector<v1::OnlineView> out;
  for (const auto& [name, v] : views_) {
    if (dataset.empty() || v.def.dataset() == dataset) out.push_back(v.def);
  }
  return out;
}

absl::Status OnlineStore::Upsert(const std::string& view, int64_t version,
                                 std::vector<OnlineRow> rows,
                                 int64_t pushed_through, bool sync,
                                 UpsertParts parts) {
  // Writers are serialized (with a mirror, until Redis has their values too,
  // so it gets them in order); readers keep reading the published values
  // until the batch is stored (mu_ is held shared while it is prepared and
  // not at all while it is written), and never wait for Redis.
  std::unique_lock<std::mutex> mirror_lock = MirrorLock();
  std::shared_lock reading(mu_);
  auto it = views_.find(view);
  if (it == views_.end())
    return absl::NotFoundError(StrCat("online view '", view, "' not found"));
  View& v = it->second;
  const bool timed = !v.def.event_timestamp().empty();
  std::unordered_map<std::string, v1::OnlineValue> winners;
  storage::WriteBatch b;
  for (auto& row : rows) {
    v1::OnlineValue value;
    value.set_event_micros(row.event_micros);
    value.set_version(version);
    value.mutable_values()->Assign(row.values.begin(), row.values.end());
    value.mutable_raw()->Swap(&row.raw);
    if (timed && parts != UpsertParts::kLatest) {
      std::string hk = HistoryPrefix(view, row.key);
      AppendOrdered(row.event_micros, &hk);
      b.Put(kOnlineHistory, hk, value.SerializeAsString());
    }
    if (parts == UpsertParts::kHistory) continue;
    auto cur = winners.find(row.key);
    const v1::OnlineValue* best = nullptr;
    if (cur != winners.end()) {
      best = &cur->second;
    } else if (auto old = v.latest.find(row.key); old != v.latest.end()) {
      best = &old->second;
    }
    if (best == nullptr || row.event_micros >= best->event_micros())
      winners[row.key] = std::move(value);
  }
  for (const auto& [key, value] : winners)
    b.Put(kOnline, LatestKey(view, key), value.SerializeAsString());
  v1::OnlineView def = v.def;
  def.set_version(std::max(def.version(), version));
  def.set_writes(def.writes() + 1);
  def.set_pushed_through(std::max(def.pushed_through(), pushed_through));
  b.Put(kOnline, ViewKey(view), def.SerializeAsString());
  reading.unlock();
  if (auto s = store_->Write(b, {.sync = sync}); !s.ok()) return s;
  std::unique_lock lock(mu_);  // Publishes them.
  Values copies;
  for (auto& [key, value] : winners) {
    value.clear_raw();  // On disk only.
    if (mirror_ != nullptr) copies.emplace_back(key, value);
    v.latest[key] = std::move(value);
  }
  v.def = def;
  if (mirror_ == nullptr) return absl::OkStatus();
  lock.unlock();
  Mirror(def, copies);
  return absl::OkStatus();
}

void OnlineStore::Mirror(const v1::OnlineView& def, const Values& values) {
  // A copy that may differ is left to SyncMirror: it writes it whole.
  if (!mirrored_.contains(def.name())) return;
  redis::OnlineRedis::ValueRefs refs;
  refs.reserve(values.size());
  for (const auto& [key, value] : values) refs.emplace_back(key, &value);
  if (auto s = mirror_->Write(def, refs, /*create=*/false); !s.ok()) {
    mirrored_.erase(def.name());
    LogWarning("online view not copied to the Redis online store (retried)",
               {{"view", def.name()}, {"error", std::string(s.message())}});
  }
}

absl::Status OnlineStore::SyncMirror() {
  if (mirror_ == nullptr) return absl::OkStatus();
  // Writers wait (a whole write reads the served values); readers do not.
  std::unique_lock<std::mutex> mirror_lock = MirrorLock();
  std::shared_lock lock(mu_);
  absl::Status first;
  for (const auto& [name, v] : views_) {
    auto stored = mirror_->StoredView(name);
    absl::Status s = stored.status();
    if (s.ok() && stored->has_value() &&
        (*stored)->writes() == v.def.writes() &&
        (*stored)->version() == v.def.version()) {
      // Values match; its feature sets may have been added since.
      if (!mirrored_.contains(name)) s = mirror_->Write(v.def, {}, true);
    } else if (s.ok()) {
      redis::OnlineRedis::ValueRefs refs;
      refs.reserve(v.latest.size());
      for (const auto& [key, value] : v.latest) refs.emplace_back(key, &value);
      s = mirror_->Write(v.def, refs, /*create=*/true);
      if (s.ok()) {
        LogInfo("online view written whole to the Redis online store",
                {{"view", name},
                 {"keys", std::to_string(refs.size())},
                 {"version", std::to_string(v.def.version())}});
      }
    }
    if (s.ok()) {
      mirrored_.insert(name);
    } else {
      mirrored_.erase(name);
      if (first.ok()) first = s;
    }
  }
  ViewsBehindGauge().Set(static_cast<double>(views_.size() - mirrored_.size()));
  return first;
}

size_t OnlineStore::ViewsBehind() const {
  if (mirror_ == nullptr) return 0;
  std::unique_lock<std::mutex> mirror_lock = MirrorLock();
  std::shared_lock lock(mu_);
  return views_.size() - mirrored_.size();
}

absl::StatusOr<OnlineLookup> OnlineStore::Latest(const std::string& view,
                                                 const std::string& key,
                                                 bool raw) const {
  std::shared_lock lock(mu_);
  OnlineLookup out;
  auto it = views_.find(view);
  if (it == views_.end()) return out;
  auto v = it->second.latest.find(key);
  if (v == it->second.latest.end()) return out;
  out.found = true;
  if (!raw) {
    out.value = v->second;
    return out;
  }
  // Under the lock: the stored value is the one in memory.
  auto stored = store_->Get(kOnline, LatestKey(view, key));
  if (!stored.ok()) return stored.status();
  if (!out.value.ParseFromString(*stored))
    return absl::DataLossError(StrCat("online value of '", key, "' corrupt"));
  return out;
}

absl::StatusOr<OnlineLookup> OnlineStore::AsOf(const std::string& view,
                                               const std::string& key,
                                               int64_t as_of_micros,
                                               bool raw) const {
  auto def = GetView(view);
  if (!def.ok()) return def.status();
  if (def->event_timestamp().empty()) {
    return absl::FailedPreconditionError(
        StrCat("as_of: view '", view,
               "' has no event_timestamp column, so it keeps no history"));
  }
  OnlineLookup out;
  std::string prefix = HistoryPrefix(view, key);
  for (auto it = store_->Scan(kOnlineHistory, prefix); it->Valid();
       it->Next()) {
    if (ReadOrdered(it->key().substr(prefix.size())) > as_of_micros) break;
    out.found = out.value.ParseFromArray(it->value().data(),
                                         static_cast<int>(it->value().size()));
  }
  // Pushed rows reach the latest values at once, the history only when
  // asked to (prep --online_push_history): the latest value answers when
  // it is the newest at or before as_of.
  auto latest = Latest(view, key, raw);
  if (!latest.ok()) return latest.status();
  if (latest->found && latest->value.event_micros() <= as_of_micros &&
      (!out.found || latest->value.event_micros() > out.value.event_micros()))
    out = *std::move(latest);
  if (!raw) out.value.clear_raw();
  return out;
}

}  // namespace mlpipe::prep
