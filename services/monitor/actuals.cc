// Ground truth: each actual matched with its logged prediction and folded
// into its version's open performance window.
#include <map>
#include <optional>
#include <set>

#include "absl/time/clock.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "services/monitor/monitor.h"
#include "services/monitor/monitor_keys.h"
#include "services/monitor/monitor_metrics.h"
#include "services/monitor/performance.h"

namespace mlpipe::monitor {

// One RecordActuals call. The windows it changes, the ids it records and
// the alerts they raise are written at the end, in one write.
// REQUIRES: the monitor's actuals_mu_ held while it lives.
class Monitor::ActualsBatch {
 public:
  explicit ActualsBatch(Monitor& monitor)
      : m_(monitor), now_(absl::ToUnixMicros(absl::Now())) {
    if (m_.rollouts_ == nullptr) return;
    for (auto& a : m_.rollouts_->Aliases(true)) watched_.insert(std::move(a));
  }

  // The actuals joined to predictions that came by an alias with a running
  // rollout, to feed it once they are written.
  struct Joined {
    std::string alias, version;
    std::vector<double> scores;
    std::string label;
    google::protobuf::Value actual;
  };
  const std::vector<Joined>& joined() const { return joined_; }

  // Records one actual, or counts why not; an error only when the store
  // fails or holds something unreadable.
  absl::Status Add(const std::string& id,
                   const google::protobuf::Value& actual) {
    auto p = Match(id);
    if (!p.ok() || !p->has_value()) return p.status();
    const v1::LoggedPrediction& prediction = **p;
    const std::string& version = prediction.model_version();
    auto ref = references_.find(version);
    if (ref == references_.end()) {
      auto r = m_.Reference(version);
      if (!r.ok()) {
        result_.add_errors(StrCat(id, ": ", std::string(r.status().message())));
        return absl::OkStatus();
      }
      ref = references_.emplace(version, std::move(*r)).first;
    }
    auto w = WindowOf(version, ref->second);
    if (!w.ok()) return w.status();
    Fold(id, prediction, actual, ref->second, **w);
    return absl::OkStatus();
  }

  // Writes the windows left open, the recorded ids and the alerts; the
  // alerts raised go to `raised`. Then the monitor keeps the open windows.
  absl::Status Commit(std::vector<v1::Alert>* raised) {
    for (auto& [version, w] : work_) {
      if (!w.acc || !w.dirty) continue;
      v1::PerformanceWindow open = Put(w);
      if (auto a = m_.PerformanceAlert(open, w.acc->Summary()))
        alerts_.push_back(std::move(*a));
    }
    if (auto s =
            m_.WriteWithAlerts(std::move(batch_), std::move(alerts_), raised);
        !s.ok())
      return s;
    for (auto& [version, w] : work_) {
      if (!w.acc) continue;
      v1::PerformanceWindow& kept = m_.performance_[version];
      kept = std::move(w.window);
      *kept.mutable_state() = w.acc->ToProto();
      *kept.mutable_actuals() = w.profile->ToProto();
    }
    return absl::OkStatus();
  }

  const v1::ActualsResult& result() const { return result_; }

 private:
  // A version's open window as it changes: kept only once written.
  struct Work {
    v1::PerformanceWindow window;  // Without state and actuals: those are
    std::optional<PerformanceAccumulator> acc;  // here.
    std::optional<Profiler> profile;
    bool dirty = false;
  };

  // The logged prediction `id` names; nullopt (counted in the result) when
  // it is empty, a duplicate, or matches no logged prediction.
  absl::StatusOr<std::optional<v1::LoggedPrediction>> Match(
      const std::string& id) {
    if (id.empty()) {
      result_.add_errors("prediction_id: empty");
      return std::nullopt;
    }
    if (!seen_.insert(id).second) {
      result_.set_duplicates(result_.duplicates() + 1);
      return std::nullopt;
    }
    auto done = m_.store_->Get(kActuals, id);
    if (done.ok()) {
      result_.set_duplicates(result_.duplicates() + 1);
      return std::nullopt;
    }
    if (!absl::IsNotFound(done.status())) return done.status();
    auto raw = m_.store_->Get(kPredictions, id);
    if (absl::IsNotFound(raw.status())) {
      result_.set_unmatched(result_.unmatched() + 1);
      return std::nullopt;
    }
    if (!raw.ok()) return raw.status();
    v1::LoggedPrediction p;
    if (!p.ParseFromString(*raw))
      return absl::DataLossError(
          StrCat("logged prediction '", id, "' is corrupt"));
    return p;
  }

  // The version's open window: the one in memory, else a new one after the
  // last stored (and after a closed one), with its accumulators.
  absl::StatusOr<Work*> WindowOf(const std::string& version,
                                 const v1::MonitorReference& reference) {
    auto [it, added] = work_.try_emplace(version);
    Work& w = it->second;
    if (added) {
      auto current = m_.performance_.find(version);
      if (current != m_.performance_.end()) {
        w.window = current->second;
      } else {  // After the last window stored.
        w.window.set_model_version(version);
        w.window.set_seq(NextSeq(*m_.store_, kPerformance, version));
      }
    }
    if (w.window.closed()) {
      const uint64_t seq = w.window.seq() + 1;
      w = Work();
      w.window.set_model_version(version);
      w.window.set_seq(seq);
    }
    if (w.acc) return &w;
    if (w.window.has_state()) {
      auto acc = PerformanceAccumulator::FromProto(w.window.state());
      if (!acc.ok()) return acc.status();
      w.acc = std::move(*acc);
      auto prof = Profiler::FromProto(w.window.actuals(), m_.options_.profile);
      if (!prof.ok()) return prof.status();
      w.profile = std::move(*prof);
    } else {
      w.acc = PerformanceAccumulator(
          reference.task(),
          {reference.classes().begin(), reference.classes().end()});
      w.profile = Profiler(m_.options_.profile);
    }
    w.window.clear_state();
    w.window.clear_actuals();
    return &w;
  }

  // Adds the actual to the window; a window that is full closes (with its
  // alert, if any).
  void Fold(const std::string& id, const v1::LoggedPrediction& p,
            const google::protobuf::Value& actual,
            const v1::MonitorReference& reference, Work& w) {
    std::vector<double> scores(p.scores().begin(), p.scores().end());
    if (auto s = w.acc->Add(scores, p.label(), actual); !s.ok()) {
      result_.add_errors(StrCat(id, ": ", std::string(s.message())));
      return;
    }
    // The actual's distribution under the training label's name: target
    // drift compares it with the reference's.
    const std::string field =
        reference.label().empty() ? std::string("actual") : reference.label();
    if (reference.task() == v1::REGRESSION) {
      w.profile->AddNumber(field, actual.number_value());
    } else if (auto c = ActualClass(actual); c.ok()) {
      w.profile->AddString(field, *c);
    }
    w.profile->EndRow();
    if (w.window.start_micros() == 0) w.window.set_start_micros(now_);
    w.window.set_end_micros(now_);
    w.dirty = true;
    batch_.Put(kActuals, id, "");
    result_.set_recorded(result_.recorded() + 1);
    if (watched_.contains(p.alias()))
      joined_.push_back(
          {p.alias(), p.model_version(), std::move(scores), p.label(), actual});
    if (w.acc->ToProto().count() >= m_.options_.performance_rows) {
      w.window.set_closed(true);  // The next actual opens the next window.
      v1::PerformanceWindow closed = Put(w);
      if (auto a = m_.PerformanceAlert(closed, w.acc->Summary()))
        alerts_.push_back(std::move(*a));
    }
  }

  // Writes `w`'s window (closed or not) into the batch.
  v1::PerformanceWindow Put(Work& w) {
    v1::PerformanceWindow out = w.window;
    *out.mutable_state() = w.acc->ToProto();
    *out.mutable_actuals() = w.profile->ToProto();
    batch_.Put(kPerformance, WindowKey(out.model_version(), out.seq()),
               out.SerializeAsString());
    w.dirty = false;
    return out;
  }

  Monitor& m_;
  const int64_t now_;
  v1::ActualsResult result_;
  storage::WriteBatch batch_;
  std::map<std::string, v1::MonitorReference> references_;
  std::set<std::string> seen_;
  std::set<std::string> watched_;  // Aliases with a running rollout.
  std::vector<Joined> joined_;
  std::map<std::string, Work> work_;
  std::vector<v1::Alert> alerts_;
};

absl::StatusOr<v1::ActualsResult> Monitor::RecordActuals(
    const std::vector<std::pair<std::string, google::protobuf::Value>>&
        actuals) {
  std::unique_lock lock(actuals_mu_);
  ActualsBatch batch(*this);
  for (const auto& [id, actual] : actuals)
    if (auto s = batch.Add(id, actual); !s.ok()) return s;
  std::vector<v1::Alert> raised;
  if (auto s = batch.Commit(&raised); !s.ok()) return s;
  for (const auto& j : batch.joined()) {
    if (auto s = rollouts_->OnActual(j.alias, j.version, j.scores, j.label,
                                     j.actual);
        !s.ok())
      LogWarning(
          "an actual does not fit its rollout's evidence",
          {{"model_version", j.version}, {"error", std::string(s.message())}});
  }
  lock.unlock();
  CountActuals(batch.result());
  Announce(raised);
  return batch.result();
}

}  // namespace mlpipe::monitor
