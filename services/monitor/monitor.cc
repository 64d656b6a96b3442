#include "services/monitor/monitor.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "common/storage/key_codec.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/monitor/monitor_keys.h"
#include "services/monitor/monitor_metrics.h"

namespace mlpipe::monitor {
namespace {

using google::protobuf::util::TimeUtil;

std::string BatchKey(uint64_t seq) {
  std::string k;
  storage::AppendU64(&k, seq);
  return k;
}

absl::StatusOr<v1::MonitorWindow> ParseWindow(std::string_view bytes) {
  v1::MonitorWindow w;
  if (!w.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return absl::DataLossError("a monitor window is corrupt");
  return w;
}

// Four significant digits, for messages.
std::string Short(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

std::string TimeKey(int64_t micros, const std::string& id) {
  std::string k;
  storage::AppendU64(&k, static_cast<uint64_t>(std::max<int64_t>(0, micros)));
  return k + id;
}

// The ids of a batch's joinable predictions, each after its length.
void AppendId(std::string* out, const std::string& id) {
  storage::AppendU32(out, static_cast<uint32_t>(id.size()));
  out->append(id);
}
// False when `value` is not a list that AppendId wrote.
bool ForEachId(std::string_view value,
               const std::function<void(std::string_view)>& f) {
  while (!value.empty()) {
    if (value.size() < 4) return false;
    const uint32_t n = storage::DecodeU32(value);
    if (value.size() - 4 < n) return false;
    f(value.substr(4, n));
    value.remove_prefix(4 + n);
  }
  return true;
}

}  // namespace

std::vector<std::string> MonitorColumnFamilies() {
  return {kReferences, kWindows,     kPending,  kPredictions, kPredictionTimes,
          kActuals,    kPerformance, kPolicies, kAlerts,      kRollouts};
}

absl::Status Monitor::SetReference(const v1::MonitorReference& reference) {
  if (reference.model_version().empty())
    return absl::InvalidArgumentError("model_version: empty");
  if (reference.task() == v1::BINARY && reference.classes_size() != 2)
    return absl::InvalidArgumentError(
        "classes: a binary model has two classes, negative then positive");
  if (auto p = Profiler::FromProto(reference.profile(), options_.profile);
      !p.ok())
    return absl::InvalidArgumentError(
        StrCat("profile: ", std::string(p.status().message())));
  return store_->Put(kReferences, reference.model_version(),
                     reference.SerializeAsString(), {.sync = true});
}

absl::StatusOr<v1::MonitorReference> Monitor::Reference(
    const std::string& model_version) const {
  auto raw = store_->Get(kReferences, model_version);
  if (absl::IsNotFound(raw.status())) {
    return absl::NotFoundError(
        StrCat("no reference profile for model version '", model_version,
               "' (deploying a version sets it; or SetReference)"));
  }
  if (!raw.ok()) return raw.status();
  v1::MonitorReference p;
  if (!p.ParseFromString(*raw))
    return absl::DataLossError(
        StrCat("the reference of '", model_version, "' is corrupt"));
  return p;
}

void Monitor::Fold(const v1::PredictionRecord& r,
                   std::vector<std::string>* closed) {
  const std::string& version = r.model_version();
  if (version.empty()) return;
  const int64_t t = TimeUtil::TimestampToMicroseconds(r.time());
  auto it = open_.find(version);
  if (it == open_.end()) {
    // A new window after the version's last one.
    uint64_t seq = NextSeq(*store_, kWindows, version);
    for (const auto& w : to_close_)
      if (w.model_version() == version) seq = std::max(seq, w.seq() + 1);
    it = open_.emplace(version, NewWindow(version, seq)).first;
  }
  Open* o = &it->second;
  const bool full = o->profile.rows() >= options_.window_rows ||
                    (o->profile.rows() > 0 &&
                     t - o->window.start_micros() >=
                         absl::ToInt64Microseconds(options_.window_time));
  if (full) CloseWindowLocked(version, o, closed);
  if (o->profile.rows() == 0) o->window.set_start_micros(t);
  o->window.set_end_micros(std::max(o->window.end_micros(), t));
  o->profile.AddRecord(r);
  // A request's latency once, however many rows it had.
  if (r.latency_seconds() > 0 && r.request_row() == 0)
    o->latency.Add(r.latency_seconds());
  o->dirty = true;
}

Monitor::Open Monitor::NewWindow(const std::string& version,
                                 uint64_t seq) const {
  Open o{{},
         Profiler(options_.profile),
         features::QuantileSketch(options_.profile.sketch_k),
         false};
  o.window.set_model_version(version);
  o.window.set_seq(seq);
  return o;
}

absl::Status Monitor::Log(const std::vector<v1::PredictionRecord>& records) {
  if (records.empty()) return absl::OkStatus();
  std::unique_lock lock(mu_);
  // A large batch is checkpointed at once (the open windows are smaller
  // than it); a small one is kept as pending until the next checkpoint.
  const bool checkpoint = records.size() >= options_.checkpoint_batch_records;
  storage::WriteBatch b;
  // The batch's joinable ids, under its newest time, for retention.
  std::string ids;
  const std::string* first_id = nullptr;
  int64_t newest = INT64_MIN;
  for (const auto& r : records) {
    if (r.prediction_id().empty() || r.shadow()) continue;
    // Kept to join the actual that comes later.
    v1::LoggedPrediction p;
    p.set_model_version(r.model_version());
    p.set_time_micros(TimeUtil::TimestampToMicroseconds(r.time()));
    *p.mutable_scores() = r.scores();
    p.set_label(r.label());
    p.set_alias(r.alias());
    b.Put(kPredictions, r.prediction_id(), p.SerializeAsString());
    AppendId(&ids, r.prediction_id());
    if (first_id == nullptr) first_id = &r.prediction_id();
    newest = std::max(newest, p.time_micros());
  }
  if (first_id != nullptr) {
    b.Put(kPredictionTimes, TimeKey(newest, *first_id), ids);
    newest_micros_ = std::max(newest_micros_, newest);
    oldest_kept_micros_ = std::min(oldest_kept_micros_, newest);
  }
  if (!checkpoint) {
    v1::PredictionBatch batch;
    batch.mutable_records()->Reserve(static_cast<int>(records.size()));
    for (const auto& r : records) *batch.add_records() = r;
    b.Put(kPending, BatchKey(next_batch_), batch.SerializeAsString());
  }
  // Written before it is folded: a crash in between loses nothing (the
  // call fails, and the batch comes again).
  if (auto s = store_->Write(b); !s.ok()) return s;
  CountLogged(records.size());
  if (rollouts_ != nullptr) rollouts_->OnLogged(records);
  if (!checkpoint) {
    ++next_batch_;
    pending_ = true;
  }
  std::vector<std::string> closed;
  for (const auto& r : records) Fold(r, &closed);
  std::vector<v1::Alert> alerts;
  if (checkpoint || !closed.empty() ||
      ++since_checkpoint_ >= options_.checkpoint_every) {
    if (auto s = CheckpointLocked(closed, &alerts); !s.ok()) return s;
  }
  lock.unlock();
  Announce(alerts);
  return absl::OkStatus();
}

void Monitor::CloseWindowLocked(const std::string& version, Open* o,
                                std::vector<std::string>* closed) {
  v1::MonitorWindow done = o->window;
  done.set_closed(true);
  *done.mutable_profile() = o->profile.ToProto();
  o->latency.ToProto(done.mutable_latency());
  to_close_.push_back(std::move(done));
  closed->push_back(version);
  *o = NewWindow(version, o->window.seq() + 1);
}

absl::Status Monitor::CloseDue(absl::Time now) {
  std::unique_lock lock(mu_);
  const int64_t t = absl::ToUnixMicros(now);
  std::vector<std::string> closed;
  for (auto& [version, o] : open_) {
    if (o.profile.rows() > 0 &&
        t - o.window.start_micros() >=
            absl::ToInt64Microseconds(options_.window_time))
      CloseWindowLocked(version, &o, &closed);
  }
  if (closed.empty()) return absl::OkStatus();
  std::vector<v1::Alert> raised;
  if (auto s = CheckpointLocked(closed, &raised); !s.ok()) return s;
  lock.unlock();
  Announce(raised);
  return absl::OkStatus();
}

absl::Status Monitor::Checkpoint() {
  std::unique_lock lock(mu_);
  std::vector<v1::Alert> raised;
  if (auto s = CheckpointLocked({}, &raised); !s.ok()) return s;
  lock.unlock();
  Announce(raised);
  return absl::OkStatus();
}

absl::Status Monitor::CheckpointLocked(const std::vector<std::string>& closed,
                                       std::vector<v1::Alert>* raised) {
  storage::WriteBatch b;
  std::vector<v1::Alert> alerts;
  for (const auto& w : to_close_) {
    b.Put(kWindows, WindowKey(w.model_version(), w.seq()),
          w.SerializeAsString());
    if (auto a = DriftAlert(w)) alerts.push_back(std::move(*a));
  }
  for (auto& [version, o] : open_) {
    if (!o.dirty) continue;
    v1::MonitorWindow w = o.window;
    *w.mutable_profile() = o.profile.ToProto();
    o.latency.ToProto(w.mutable_latency());
    b.Put(kWindows, WindowKey(version, w.seq()), w.SerializeAsString());
  }
  // Every logged batch is in a window now.
  if (pending_) b.DeleteRange(kPending, BatchKey(0), BatchKey(next_batch_));
  ExpirePredictions(&b);
  // Closed windows past the number kept.
  for (const auto& version : closed) {
    const uint64_t seq = open_.at(version).window.seq();
    if (seq > options_.windows_kept)
      b.DeleteRange(kWindows, WindowKey(version, 0),
                    WindowKey(version, seq - options_.windows_kept));
  }
  if (auto s = WriteWithAlerts(std::move(b), std::move(alerts), raised);
      !s.ok()) {
    oldest_kept_micros_ = INT64_MIN;  // What it expired is still there.
    return s;
  }
  to_close_.clear();
  for (auto& [version, o] : open_) o.dirty = false;
  since_checkpoint_ = 0;
  pending_ = false;
  return absl::OkStatus();
}

void Monitor::ExpirePredictions(storage::WriteBatch* b) {
  const int64_t cutoff =
      newest_micros_ - absl::ToInt64Microseconds(options_.actuals_horizon);
  // Nothing is due: no scan (whose head would be the tombstones of what
  // expired before).
  if (cutoff <= oldest_kept_micros_) return;
  auto it = store_->Scan(kPredictionTimes, "");
  int n = 0;
  for (; it->Valid() && n < 100000; it->Next()) {
    const auto t = static_cast<int64_t>(storage::DecodeU64(it->key()));
    if (t >= cutoff) {
      oldest_kept_micros_ = t;
      return;
    }
    if (it->value().empty()) {  // One prediction, its id in the key.
      b->Delete(kPredictions, it->key().substr(8));
      ++n;
    } else if (!ForEachId(it->value(), [&](std::string_view id) {
                 b->Delete(kPredictions, id);
                 ++n;
               })) {
      LogWarning("monitor: an unreadable retention entry is dropped",
                 {{"key", std::string(it->key().substr(8))}});
    }
    b->Delete(kPredictionTimes, it->key());
  }
  // All expired, or more to expire next time.
  oldest_kept_micros_ =
      it->Valid() || !it->status().ok() ? INT64_MIN : INT64_MAX;
}

absl::Status Monitor::Restore() {
  {
    std::lock_guard lock(alerts_mu_);
    auto it = store_->Scan(kAlerts, "");
    for (; it->Valid(); it->Next()) {
      v1::Alert a;
      if (!a.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size())))
        return absl::DataLossError("an alert is corrupt");
      last_alert_ = std::max(last_alert_, a.id());
      auto& t = last_raised_[{a.model_version(), a.kind()}];
      t = std::max(t, a.time_micros());
    }
    if (!it->status().ok()) return it->status();
  }
  std::unique_lock lock(mu_);
  if (auto last = store_->LastKey(kPredictionTimes);
      last.ok() && last->has_value())
    newest_micros_ = static_cast<int64_t>(storage::DecodeU64(**last));
  {
    std::lock_guard actuals(actuals_mu_);
    auto it = store_->Scan(kPerformance, "");
    for (; it->Valid(); it->Next()) {
      v1::PerformanceWindow w;
      if (!w.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size())))
        return absl::DataLossError("a performance window is corrupt");
      if (!w.closed()) performance_[w.model_version()] = std::move(w);
    }
    if (!it->status().ok()) return it->status();
  }
  auto it = store_->Scan(kWindows, "");
  for (; it->Valid(); it->Next()) {
    auto w = ParseWindow(it->value());
    if (!w.ok()) return w.status();
    if (w->closed()) continue;
    auto p = Profiler::FromProto(w->profile(), options_.profile);
    if (!p.ok()) return p.status();
    auto latency = w->has_latency()
                       ? features::QuantileSketch::FromProto(w->latency())
                       : features::QuantileSketch(options_.profile.sketch_k);
    if (!latency.ok()) return latency.status();
    w->clear_profile();
    w->clear_latency();
    std::string version = w->model_version();
    open_.insert_or_assign(
        std::move(version),
        Open{std::move(*w), std::move(*p), std::move(*latency), false});
  }
  if (!it->status().ok()) return it->status();
  std::vector<std::string> closed;
  bool folded = false;
  auto pending = store_->Scan(kPending, "");
  for (; pending->Valid(); pending->Next()) {
    v1::PredictionBatch batch;
    if (!batch.ParseFromArray(pending->value().data(),
                              static_cast<int>(pending->value().size())))
      return absl::DataLossError("a logged prediction batch is corrupt");
    for (const auto& r : batch.records()) Fold(r, &closed);
    next_batch_ = storage::DecodeU64(pending->key()) + 1;
    folded = pending_ = true;
  }
  if (!pending->status().ok()) return pending->status();
  if (!folded) return absl::OkStatus();
  std::vector<v1::Alert> alerts;
  if (auto s = CheckpointLocked(closed, &alerts); !s.ok()) return s;
  lock.unlock();
  Announce(alerts);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::MonitorWindow>> Monitor::Windows(
    const std::string& model_version, size_t windows) const {
  std::vector<v1::MonitorWindow> out;
  // Held across the scan too: a window closed and checkpointed between the
  // scan and the lock would be in neither (a report short of its rows).
  std::lock_guard lock(mu_);
  auto it = store_->Scan(kWindows, VersionPrefix(model_version));
  for (; it->Valid(); it->Next()) {
    auto w = ParseWindow(it->value());
    if (!w.ok()) return w.status();
    if (w->closed()) out.push_back(std::move(*w));
  }
  if (!it->status().ok()) return it->status();
  for (const auto& w : to_close_)
    if (w.model_version() == model_version) out.push_back(w);
  auto open = open_.find(model_version);
  if (open != open_.end() && open->second.profile.rows() > 0) {
    v1::MonitorWindow w = open->second.window;
    *w.mutable_profile() = open->second.profile.ToProto();
    open->second.latency.ToProto(w.mutable_latency());
    out.push_back(std::move(w));
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.seq() < b.seq(); });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const auto& a, const auto& b) {
                          return a.seq() == b.seq();
                        }),
            out.end());
  if (out.size() > windows) out.erase(out.begin(), out.end() - windows);
  return out;
}

absl::StatusOr<v1::DriftReport> Monitor::Report(
    const std::string& model_version, size_t windows) const {
  auto reference = Reference(model_version);
  if (!reference.ok()) return reference.status();
  auto ws = Windows(model_version, windows);
  if (!ws.ok()) return ws.status();
  Profiler current(options_.profile);
  for (const auto& w : *ws) {
    auto p = Profiler::FromProto(w.profile(), options_.profile);
    if (!p.ok()) return p.status();
    if (auto s = current.Merge(*p); !s.ok()) return s;
  }
  if (current.rows() == 0) {
    return absl::FailedPreconditionError(
        StrCat("no predictions of '", model_version, "' were logged yet"));
  }
  return Compare(reference->profile(), current.ToProto(), options_.thresholds);
}

absl::StatusOr<std::map<uint64_t, v1::PerformanceWindow>>
Monitor::PerformanceWindows(const std::string& model_version,
                            size_t windows) const {
  std::map<uint64_t, v1::PerformanceWindow> ws;
  std::lock_guard lock(actuals_mu_);  // Across the scan: as Windows.
  auto it = store_->Scan(kPerformance, VersionPrefix(model_version));
  for (; it->Valid(); it->Next()) {
    v1::PerformanceWindow w;
    if (!w.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size())))
      return absl::DataLossError("a performance window is corrupt");
    ws[w.seq()] = std::move(w);
  }
  if (!it->status().ok()) return it->status();
  auto open = performance_.find(model_version);
  if (open != performance_.end()) ws[open->second.seq()] = open->second;
  while (ws.size() > windows) ws.erase(ws.begin());
  return ws;
}

absl::StatusOr<v1::Performance> Monitor::Performance(
    const std::string& model_version, size_t windows) const {
  auto ws = PerformanceWindows(model_version, windows);
  if (!ws.ok()) return ws.status();
  return Merged(model_version, *ws);
}

absl::StatusOr<v1::Performance> Monitor::Merged(
    const std::string& model_version,
    const std::map<uint64_t, v1::PerformanceWindow>& ws) {
  if (ws.empty()) {
    return absl::FailedPreconditionError(
        StrCat("no actuals were recorded for '", model_version, "' yet"));
  }
  std::optional<PerformanceAccumulator> total;
  for (const auto& [seq, w] : ws) {
    auto acc = PerformanceAccumulator::FromProto(w.state());
    if (!acc.ok()) return acc.status();
    if (!total) {
      total = std::move(*acc);
    } else if (auto s = total->Merge(*acc); !s.ok()) {
      return s;
    }
  }
  return total->Summary();
}

std::optional<v1::Alert> Monitor::DriftAlert(const v1::MonitorWindow& w) const {
  auto reference = Reference(w.model_version());
  if (!reference.ok()) return std::nullopt;  // Nothing to drift from.
  auto report = Compare(reference->profile(), w.profile(), options_.thresholds);
  if (!report.ok()) return std::nullopt;
  RecordDrift(w.model_version(), *report);
  if (report->drifted().empty()) return std::nullopt;
  v1::Alert a;
  a.set_kind("drift");
  a.set_model_version(w.model_version());
  a.set_window_seq(w.seq());
  *a.mutable_fields() = report->drifted();
  const v1::FieldDrift* worst = nullptr;
  for (const auto& f : report->fields()) {
    if (f.drifted() &&
        (worst == nullptr ||
         f.score() / f.threshold() > worst->score() / worst->threshold()))
      worst = &f;
  }
  a.set_metric(worst->method());
  a.set_value(worst->score());
  a.set_threshold(worst->threshold());
  a.set_message(StrCat(report->drifted_size(), " of ", report->fields_size(),
                       " fields drifted in window ", w.seq(), " (",
                       w.profile().rows(), " predictions); worst '",
                       worst->name(), "' ", worst->method(), " ",
                       Short(worst->score()), " >= ", worst->threshold()));
  return a;
}

std::optional<v1::Alert> Monitor::PerformanceAlert(
    const v1::PerformanceWindow& w, const v1::Performance& p) const {
  auto policy = Policy(w.model_version());
  RecordPerformance(w.model_version(), w.state().task(), p,
                    policy.ok() ? &*policy : nullptr);
  if (!policy.ok()) return std::nullopt;
  const uint64_t needed = std::min<uint64_t>(
      policy->min_actuals() == 0 ? 100 : policy->min_actuals(),
      options_.performance_rows);
  if (p.count() < needed) return std::nullopt;
  struct Bound {
    const char* metric;
    bool has;
    double bound, value;
    bool lower;  // A lower bound (the metric must stay at or above it).
  };
  const Bound bounds[] = {
      {"accuracy", policy->has_min_accuracy(), policy->min_accuracy(),
       p.accuracy(), true},
      {"auc", policy->has_min_auc(), policy->min_auc(), p.auc(), true},
      {"rmse", policy->has_max_rmse(), policy->max_rmse(), p.rmse(), false},
      {"r2", policy->has_min_r2(), policy->min_r2(), p.r2(), true}};
  for (const Bound& b : bounds) {
    if (!b.has || std::isnan(b.value)) continue;
    if (b.lower ? b.value >= b.bound : b.value <= b.bound) continue;
    v1::Alert a;
    a.set_kind("performance");
    a.set_model_version(w.model_version());
    a.set_window_seq(w.seq());
    a.set_metric(b.metric);
    a.set_value(b.value);
    a.set_threshold(b.bound);
    a.set_message(StrCat(b.metric, " ", Short(b.value), b.lower ? " < " : " > ",
                         b.bound, " over ", p.count(), " actuals"));
    if (policy->rollback())
      a.set_action(
          StrCat("rollback of '",
                 policy->alias().empty() ? "production" : policy->alias(),
                 "' pending"));
    return a;
  }
  return std::nullopt;
}

absl::Status Monitor::WriteWithAlerts(storage::WriteBatch b,
                                      std::vector<v1::Alert> alerts,
                                      std::vector<v1::Alert>* raised) {
  std::lock_guard lock(alerts_mu_);
  const int64_t now = absl::ToUnixMicros(absl::Now());
  const int64_t cooldown = absl::ToInt64Microseconds(options_.alert_cooldown);
  std::vector<v1::Event> events;
  std::vector<v1::Alert> staged;
  uint64_t id = last_alert_;
  std::map<std::pair<std::string, std::string>, int64_t> times;
  for (auto& a : alerts) {
    const auto key = std::make_pair(a.model_version(), a.kind());
    int64_t previous = -1;
    if (auto t = times.find(key); t != times.end()) {
      previous = t->second;
    } else if (auto l = last_raised_.find(key); l != last_raised_.end()) {
      previous = l->second;
    }
    if (previous >= 0 && now - previous < cooldown) continue;
    times[key] = now;
    a.set_id(++id);
    a.set_time_micros(now);
    std::string k;
    storage::AppendU64(&k, a.id());
    b.Put(kAlerts, k, a.SerializeAsString());
    const std::string model =
        a.model_version().substr(0, a.model_version().rfind(':'));
    std::map<std::string, std::string> attributes = {
        {"model", model},
        {"model_version", a.model_version()},
        {"alert", StrCat(a.id())},
        {"metric", a.metric()},
        {"value", StrCat(a.value())},
        {"threshold", StrCat(a.threshold())},
        {"window", StrCat(a.window_seq())}};
    if (a.kind() == "drift")
      attributes["fields"] = absl::StrJoin(a.fields(), ",");
    events.push_back(events::EventLog::Make(
        a.kind() == "drift" ? "drift.detected" : "performance.degraded",
        std::move(attributes)));
    staged.push_back(a);
  }
  if (staged.empty()) return store_->Write(b);
  if (id > options_.alerts_kept) {
    std::string from, to;
    storage::AppendU64(&from, 0);
    storage::AppendU64(&to, id - options_.alerts_kept + 1);
    b.DeleteRange(kAlerts, from, to);
  }
  absl::Status s =
      events_ != nullptr
          ? events_->Commit(std::move(b), std::move(events), {.sync = true})
          : store_->Write(b, {.sync = true});
  if (!s.ok()) return s;
  last_alert_ = id;
  for (const auto& [key, t] : times) last_raised_[key] = t;
  for (auto& a : staged) raised->push_back(std::move(a));
  return absl::OkStatus();
}

void Monitor::Announce(const std::vector<v1::Alert>& raised) const {
  for (const auto& a : raised) {
    CountAlert(a.kind());
    LogWarning(a.kind() == "drift" ? "drift detected" : "performance degraded",
               {{"model_version", a.model_version()},
                {"alert", StrCat(a.id())},
                {"message", a.message()}});
    if (listener_) listener_(a);
  }
}

absl::Status Monitor::SetPolicy(const v1::MonitorPolicy& policy) {
  if (policy.model_version().empty())
    return absl::InvalidArgumentError("policy.model_version: empty");
  auto in01 = [](bool has, double v) { return !has || (v >= 0 && v <= 1); };
  if (!in01(policy.has_min_accuracy(), policy.min_accuracy()))
    return absl::InvalidArgumentError("policy.min_accuracy: must be in [0, 1]");
  if (!in01(policy.has_min_auc(), policy.min_auc()))
    return absl::InvalidArgumentError("policy.min_auc: must be in [0, 1]");
  if (policy.has_max_rmse() && !(policy.max_rmse() >= 0))
    return absl::InvalidArgumentError("policy.max_rmse: must be >= 0");
  if (policy.has_min_r2() && !(policy.min_r2() <= 1))
    return absl::InvalidArgumentError("policy.min_r2: must be <= 1");
  return store_->Put(kPolicies, policy.model_version(),
                     policy.SerializeAsString(), {.sync = true});
}

absl::StatusOr<v1::MonitorPolicy> Monitor::Policy(
    const std::string& model_version) const {
  auto raw = store_->Get(kPolicies, model_version);
  if (absl::IsNotFound(raw.status()))
    return absl::NotFoundError(
        StrCat("no policy for model version '", model_version, "'"));
  if (!raw.ok()) return raw.status();
  v1::MonitorPolicy p;
  if (!p.ParseFromString(*raw))
    return absl::DataLossError(
        StrCat("the policy of '", model_version, "' is corrupt"));
  return p;
}

absl::StatusOr<std::vector<v1::Alert>> Monitor::Alerts(
    const std::string& model_version, const std::string& kind,
    size_t limit) const {
  if (limit == 0) limit = 50;
  std::vector<v1::Alert> out;
  uint64_t last;
  {
    std::lock_guard lock(alerts_mu_);
    last = last_alert_;
  }
  // Newest first: alert ids are dense, keys their big-endian bytes.
  auto it = store_->Scan(kAlerts, "");
  std::vector<v1::Alert> all;
  for (; it->Valid(); it->Next()) {
    v1::Alert a;
    if (!a.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size())))
      return absl::DataLossError("an alert is corrupt");
    if (a.id() > last) break;
    if (!model_version.empty() && a.model_version() != model_version) continue;
    if (!kind.empty() && a.kind() != kind) continue;
    all.push_back(std::move(a));
  }
  if (!it->status().ok()) return it->status();
  for (auto a = all.rbegin(); a != all.rend() && out.size() < limit; ++a)
    out.push_back(std::move(*a));
  return out;
}

absl::Status Monitor::SetAlertAction(uint64_t id, const std::string& action) {
  std::lock_guard lock(alerts_mu_);
  std::string k;
  storage::AppendU64(&k, id);
  auto raw = store_->Get(kAlerts, k);
  if (absl::IsNotFound(raw.status()))
    return absl::NotFoundError(StrCat("no alert ", id));
  if (!raw.ok()) return raw.status();
  v1::Alert a;
  if (!a.ParseFromString(*raw))
    return absl::DataLossError(StrCat("alert ", id, " is corrupt"));
  a.set_action(action);
  return store_->Put(kAlerts, k, a.SerializeAsString(), {.sync = true});
}

absl::StatusOr<std::string> Monitor::NewestVersion(
    const std::string& name) const {
  int64_t best = -1;
  for (const char* cf : {kReferences, kWindows}) {
    auto it = store_->Scan(cf, name + ":");
    for (; it->Valid(); it->Next()) {
      std::string_view key = it->key();
      key = key.substr(name.size() + 1);
      key = key.substr(0, key.find('\0'));
      int64_t v = 0;
      if (absl::SimpleAtoi(std::string(key), &v)) best = std::max(best, v);
    }
    if (!it->status().ok()) return it->status();
  }
  if (best < 0)
    return absl::NotFoundError(StrCat("model '", name,
                                      "' has no monitored version (no "
                                      "reference and no logged predictions)"));
  return StrCat(name, ":", best);
}

absl::StatusOr<v1::MonitorReport> Monitor::Summary(
    const std::string& model_version, size_t windows,
    bool include_profiles) const {
  v1::MonitorReport out;
  out.set_model_version(model_version);
  auto reference = Reference(model_version);
  if (!reference.ok() && !absl::IsNotFound(reference.status()))
    return reference.status();
  auto ws = Windows(model_version, windows);
  if (!ws.ok()) return ws.status();
  if (!reference.ok() && ws->empty()) {
    return absl::NotFoundError(
        StrCat("model version '", model_version,
               "' has no reference and no logged predictions"));
  }
  Profiler current(options_.profile);
  features::QuantileSketch latency(options_.profile.sketch_k);
  for (const auto& w : *ws) {
    auto p = Profiler::FromProto(w.profile(), options_.profile);
    if (!p.ok()) return p.status();
    if (auto s = current.Merge(*p); !s.ok()) return s;
    if (w.has_latency()) {
      auto l = features::QuantileSketch::FromProto(w.latency());
      if (!l.ok()) return l.status();
      latency.Merge(*l);
    }
    if (out.start_micros() == 0 || w.start_micros() < out.start_micros())
      out.set_start_micros(w.start_micros());
    out.set_end_micros(std::max(out.end_micros(), w.end_micros()));
  }
  out.set_windows(static_cast<uint32_t>(ws->size()));
  out.set_predictions(current.rows());
  const v1::Profile current_profile = current.ToProto();
  if (reference.ok()) out.set_task(reference->task());
  if (!reference.ok()) {
    out.set_drift_error(std::string(reference.status().message()));
  } else if (current.rows() == 0) {
    out.set_drift_error(
        StrCat("no predictions of '", model_version, "' were logged yet"));
  } else {
    auto drift =
        Compare(reference->profile(), current_profile, options_.thresholds);
    if (!drift.ok()) return drift.status();
    *out.mutable_drift() = std::move(*drift);
  }
  if (latency.count() > 0) {
    auto* l = out.mutable_latency();
    l->set_count(latency.count());
    l->set_p50_seconds(latency.Quantile(0.5));
    l->set_p90_seconds(latency.Quantile(0.9));
    l->set_p99_seconds(latency.Quantile(0.99));
    l->set_max_seconds(latency.Quantile(1.0));
  }
  // Performance and target drift over the same windows.
  auto pws = PerformanceWindows(model_version, windows);
  if (!pws.ok()) return pws.status();
  auto perf = Merged(model_version, *pws);
  if (perf.ok()) {
    *out.mutable_performance() = *perf;
    if (reference.ok()) {
      Profiler actuals(options_.profile);
      for (const auto& [seq, w] : *pws) {
        auto p = Profiler::FromProto(w.actuals(), options_.profile);
        if (!p.ok()) return p.status();
        if (auto s = actuals.Merge(*p); !s.ok()) return s;
      }
      if (actuals.rows() > 0) {
        auto target = Compare(reference->profile(), actuals.ToProto(),
                              options_.thresholds);
        if (target.ok()) *out.mutable_target_drift() = std::move(*target);
      }
    }
  } else if (!absl::IsFailedPrecondition(perf.status())) {
    return perf.status();
  }
  auto alerts = Alerts(model_version, "", 20);
  if (!alerts.ok()) return alerts.status();
  for (auto& a : *alerts) *out.add_alerts() = std::move(a);
  if (auto policy = Policy(model_version); policy.ok())
    *out.mutable_policy() = std::move(*policy);
  if (include_profiles) {
    if (reference.ok()) *out.mutable_reference_profile() = reference->profile();
    *out.mutable_current_profile() = current_profile;
  }
  return out;
}

}  // namespace mlpipe::monitor
