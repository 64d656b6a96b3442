#include "services/monitor/monitor.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <optional>
#include <set>

#include "common/storage/key_codec.h"
#include "common/util/strings.h"

namespace mlpipe::monitor {
namespace {

using google::protobuf::util::TimeUtil;

std::string VersionPrefix(const std::string& version) {
  return version + std::string(1, '\0');
}

std::string WindowKey(const std::string& version, uint64_t seq) {
  std::string k = VersionPrefix(version);
  storage::AppendU64(&k, seq);
  return k;
}

// The seq after the last window of `version` stored in `cf`, or 0.
uint64_t NextSeq(const storage::Store& store, std::string_view cf,
                 const std::string& version) {
  auto last = store.LastKey(cf, VersionPrefix(version));
  if (!last.ok() || !last->has_value()) return 0;
  return storage::DecodeU64(
             std::string_view(**last).substr(version.size() + 1)) +
         1;
}

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

std::string TimeKey(int64_t micros, const std::string& id) {
  std::string k;
  storage::AppendU64(&k, static_cast<uint64_t>(std::max<int64_t>(0, micros)));
  return k + id;
}

}  // namespace

std::vector<std::string> MonitorColumnFamilies() {
  return {kReferences,      kWindows, kPending,    kPredictions,
          kPredictionTimes, kActuals, kPerformance};
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
    it = open_.emplace(version, Open{{}, Profiler(options_.profile), false})
             .first;
    it->second.window.set_model_version(version);
    it->second.window.set_seq(seq);
  }
  Open* o = &it->second;
  const bool full = o->profile.rows() >= options_.window_rows ||
                    (o->profile.rows() > 0 &&
                     t - o->window.start_micros() >=
                         absl::ToInt64Microseconds(options_.window_time));
  if (full) {
    v1::MonitorWindow done = o->window;
    done.set_closed(true);
    *done.mutable_profile() = o->profile.ToProto();
    to_close_.push_back(std::move(done));
    closed->push_back(version);
    const uint64_t seq = o->window.seq() + 1;
    *o = Open{{}, Profiler(options_.profile), false};
    o->window.set_model_version(version);
    o->window.set_seq(seq);
  }
  if (o->profile.rows() == 0) o->window.set_start_micros(t);
  o->window.set_end_micros(std::max(o->window.end_micros(), t));
  o->profile.AddRecord(r);
  o->dirty = true;
}

absl::Status Monitor::Log(const std::vector<v1::PredictionRecord>& records) {
  if (records.empty()) return absl::OkStatus();
  std::lock_guard lock(mu_);
  v1::PredictionBatch batch;
  storage::WriteBatch b;
  for (const auto& r : records) {
    *batch.add_records() = r;
    if (r.prediction_id().empty() || r.shadow()) continue;
    // Kept to join the actual that comes later.
    v1::LoggedPrediction p;
    p.set_model_version(r.model_version());
    p.set_time_micros(TimeUtil::TimestampToMicroseconds(r.time()));
    *p.mutable_scores() = r.scores();
    p.set_label(r.label());
    b.Put(kPredictions, r.prediction_id(), p.SerializeAsString());
    b.Put(kPredictionTimes, TimeKey(p.time_micros(), r.prediction_id()), "");
    newest_micros_ = std::max(newest_micros_, p.time_micros());
  }
  b.Put(kPending, BatchKey(next_batch_), batch.SerializeAsString());
  if (auto s = store_->Write(b); !s.ok()) return s;
  ++next_batch_;
  std::vector<std::string> closed;
  for (const auto& r : records) Fold(r, &closed);
  if (!closed.empty() || ++since_checkpoint_ >= options_.checkpoint_every)
    return CheckpointLocked(closed);
  return absl::OkStatus();
}

absl::Status Monitor::Checkpoint() {
  std::lock_guard lock(mu_);
  return CheckpointLocked({});
}

absl::Status Monitor::CheckpointLocked(const std::vector<std::string>& closed) {
  storage::WriteBatch b;
  for (const auto& w : to_close_)
    b.Put(kWindows, WindowKey(w.model_version(), w.seq()),
          w.SerializeAsString());
  for (auto& [version, o] : open_) {
    if (!o.dirty) continue;
    v1::MonitorWindow w = o.window;
    *w.mutable_profile() = o.profile.ToProto();
    b.Put(kWindows, WindowKey(version, w.seq()), w.SerializeAsString());
  }
  // Every logged batch is in a window now.
  b.DeleteRange(kPending, BatchKey(0), BatchKey(next_batch_));
  ExpirePredictions(&b);
  // Closed windows past the number kept.
  for (const auto& version : closed) {
    const uint64_t seq = open_.at(version).window.seq();
    if (seq > options_.windows_kept)
      b.DeleteRange(kWindows, WindowKey(version, 0),
                    WindowKey(version, seq - options_.windows_kept));
  }
  if (auto s = store_->Write(b); !s.ok()) return s;
  to_close_.clear();
  for (auto& [version, o] : open_) o.dirty = false;
  since_checkpoint_ = 0;
  return absl::OkStatus();
}

void Monitor::ExpirePredictions(storage::WriteBatch* b) {
  const int64_t cutoff =
      newest_micros_ - absl::ToInt64Microseconds(options_.actuals_horizon);
  auto it = store_->Scan(kPredictionTimes, "");
  for (int n = 0; it->Valid() && n < 100000; it->Next(), ++n) {
    if (static_cast<int64_t>(storage::DecodeU64(it->key())) >= cutoff) break;
    b->Delete(kPredictions, it->key().substr(8));
    b->Delete(kPredictionTimes, it->key());
  }
}

absl::Status Monitor::Restore() {
  std::lock_guard lock(mu_);
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
    w->clear_profile();
    std::string version = w->model_version();
    open_.insert_or_assign(std::move(version),
                           Open{std::move(*w), std::move(*p), false});
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
    folded = true;
  }
  if (!pending->status().ok()) return pending->status();
  return folded ? CheckpointLocked(closed) : absl::OkStatus();
}

absl::StatusOr<std::vector<v1::MonitorWindow>> Monitor::Windows(
    const std::string& model_version, size_t windows) const {
  std::vector<v1::MonitorWindow> out;
  auto it = store_->Scan(kWindows, VersionPrefix(model_version));
  for (; it->Valid(); it->Next()) {
    auto w = ParseWindow(it->value());
    if (!w.ok()) return w.status();
    if (w->closed()) out.push_back(std::move(*w));
  }
  if (!it->status().ok()) return it->status();
  std::lock_guard lock(mu_);
  for (const auto& w : to_close_)
    if (w.model_version() == model_version) out.push_back(w);
  auto open = open_.find(model_version);
  if (open != open_.end() && open->second.profile.rows() > 0) {
    v1::MonitorWindow w = open->second.window;
    *w.mutable_profile() = open->second.profile.ToProto();
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

absl::StatusOr<v1::ActualsResult> Monitor::RecordActuals(
    const std::vector<std::pair<std::string, google::protobuf::Value>>&
        actuals) {
  std::lock_guard lock(actuals_mu_);
  v1::ActualsResult result;
  storage::WriteBatch b;
  std::map<std::string, v1::MonitorReference> references;
  std::set<std::string> seen;
  std::set<std::string> touched;
  std::map<std::string, v1::PerformanceWindow> work;
  const int64_t now = absl::ToUnixMicros(absl::Now());
  for (const auto& [id, actual] : actuals) {
    if (id.empty()) {
      result.add_errors("prediction_id: empty");
      continue;
    }
    if (!seen.insert(id).second) {
      result.set_duplicates(result.duplicates() + 1);
      continue;
    }
    auto done = store_->Get(kActuals, id);
    if (done.ok()) {
      result.set_duplicates(result.duplicates() + 1);
      continue;
    }
    if (!absl::IsNotFound(done.status())) return done.status();
    auto raw = store_->Get(kPredictions, id);
    if (absl::IsNotFound(raw.status())) {
      result.set_unmatched(result.unmatched() + 1);
      continue;
    }
    if (!raw.ok()) return raw.status();
    v1::LoggedPrediction p;
    if (!p.ParseFromString(*raw))
      return absl::DataLossError(
          StrCat("logged prediction '", id, "' is corrupt"));
    auto ref = references.find(p.model_version());
    if (ref == references.end()) {
      auto r = Reference(p.model_version());
      if (!r.ok()) {
        result.add_errors(StrCat(id, ": ", std::string(r.status().message())));
        continue;
      }
      ref = references.emplace(p.model_version(), std::move(*r)).first;
    }
    // Changes go to copies, kept only once they are written.
    auto [open, added] = work.try_emplace(p.model_version());
    if (added) {
      auto current = performance_.find(p.model_version());
      added = current == performance_.end();
      if (!added) open->second = current->second;
    }
    v1::PerformanceWindow& w = open->second;
    if (added || w.closed()) {
      // After the window just closed, or after the last one stored.
      const uint64_t seq =
          added ? NextSeq(*store_, kPerformance, p.model_version())
                : w.seq() + 1;
      w = v1::PerformanceWindow();
      w.set_model_version(p.model_version());
      w.set_seq(seq);
    }
    if (!w.has_state()) {
      *w.mutable_state() =
          PerformanceAccumulator(
              ref->second.task(),
              {ref->second.classes().begin(), ref->second.classes().end()})
              .ToProto();
    }
    auto acc = PerformanceAccumulator::FromProto(w.state());
    if (!acc.ok()) return acc.status();
    std::vector<double> scores(p.scores().begin(), p.scores().end());
    if (auto s = acc->Add(scores, p.label(), actual); !s.ok()) {
      result.add_errors(StrCat(id, ": ", std::string(s.message())));
      continue;
    }
    *w.mutable_state() = acc->ToProto();
    if (w.start_micros() == 0) w.set_start_micros(now);
    w.set_end_micros(now);
    b.Put(kActuals, id, "");
    result.set_recorded(result.recorded() + 1);
    touched.insert(p.model_version());
    if (w.state().count() >= options_.performance_rows) {
      w.set_closed(true);  // The next actual opens the next window.
      b.Put(kPerformance, WindowKey(w.model_version(), w.seq()),
            w.SerializeAsString());
      touched.erase(p.model_version());
    }
  }
  for (const auto& version : touched) {
    const v1::PerformanceWindow& w = work.at(version);
    b.Put(kPerformance, WindowKey(version, w.seq()), w.SerializeAsString());
  }
  if (auto s = store_->Write(b); !s.ok()) return s;
  for (auto& [version, w] : work) performance_[version] = std::move(w);
  return result;
}

absl::StatusOr<v1::Performance> Monitor::Performance(
    const std::string& model_version, size_t windows) const {
  std::map<uint64_t, v1::PerformanceWindow> ws;
  auto it = store_->Scan(kPerformance, VersionPrefix(model_version));
  for (; it->Valid(); it->Next()) {
    v1::PerformanceWindow w;
    if (!w.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size())))
      return absl::DataLossError("a performance window is corrupt");
    ws[w.seq()] = std::move(w);
  }
  if (!it->status().ok()) return it->status();
  {
    std::lock_guard lock(actuals_mu_);
    auto open = performance_.find(model_version);
    if (open != performance_.end()) ws[open->second.seq()] = open->second;
  }
  if (ws.empty()) {
    return absl::FailedPreconditionError(
        StrCat("no actuals were recorded for '", model_version, "' yet"));
  }
  while (ws.size() > windows) ws.erase(ws.begin());
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

}  // namespace mlpipe::monitor
