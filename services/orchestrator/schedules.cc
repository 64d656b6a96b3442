// Schedules and event triggers: pipelines submitted by cron expressions and
// by the events other services emit.
#include <algorithm>

#include "absl/time/clock.h"
#include "common/config/pipeline_config.h"
#include "common/util/ids.h"
#include "common/util/strings.h"
#include "services/orchestrator/cron.h"
#include "services/orchestrator/orchestrator.h"
#include "services/orchestrator/orchestrator_internal.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::util::TimeUtil;

// The service that emits `topic`, when a trigger does not say.
std::string DefaultSource(const std::string& topic) {
  static const std::map<std::string, std::string> kOwners = {
      {"dataset", "ingest"},
      {"features", "prep"},
      {"data", "prep"},
      {"split", "split"},
      {"model.trained", "train"},
      {"model.blessed", "evaluate"},
      {"model.rejected", "evaluate"},
      {"model.deployed", "score"},
      {"drift", "monitor"},
      {"performance", "monitor"},
      {"run", "orchestrator"}};
  for (const auto& [prefix, owner] : kOwners) {
    if (topic == prefix || topic.starts_with(prefix + ".")) return owner;
  }
  return "";
}

absl::StatusOr<absl::TimeZone> ZoneOf(const v1::TriggerSpec& t) {
  absl::TimeZone tz = absl::UTCTimeZone();
  if (!t.timezone().empty() && !absl::LoadTimeZone(t.timezone(), &tz)) {
    return absl::InvalidArgumentError(
        StrCat("timezone: unknown time zone '", t.timezone(), "'"));
  }
  return tz;
}

}  // namespace

absl::StatusOr<std::vector<v1::Schedule>> Orchestrator::CreateSchedules(
    const v1::PipelineSpec& spec) {
  if (auto s = ValidateSpec(spec); !s.ok()) return s;
  if (spec.triggers_size() == 0) {
    return absl::InvalidArgumentError(
        StrCat(config::Where(spec, 1),
               ": spec.triggers: the pipeline has no triggers"));
  }
  std::vector<v1::Schedule> out;
  storage::WriteBatch b;
  absl::Time now = absl::Now();
  for (const auto& t : spec.triggers()) {
    std::string at = config::Where(spec, t.line());
    v1::Schedule sched;
    sched.set_id(NewId("s"));
    *sched.mutable_spec() = spec;
    *sched.mutable_trigger() = t;
    *sched.mutable_created_at() = Now();
    if (t.has_event()) {
      if (t.event().source().empty()) {
        std::string owner = DefaultSource(t.event().topic());
        if (owner.empty()) {
          return absl::InvalidArgumentError(
              StrCat(at, ": triggers.event.source: required for topic '",
                     t.event().topic(), "'"));
        }
        sched.mutable_trigger()->mutable_event()->set_source(owner);
      }
    } else {
      auto cron = CronSchedule::Parse(t.schedule());
      if (!cron.ok())
        return absl::InvalidArgumentError(
            StrCat(at, ": triggers.", cron.status().message()));
      auto tz = ZoneOf(t);
      if (!tz.ok())
        return absl::InvalidArgumentError(
            StrCat(at, ": triggers.", tz.status().message()));
      *sched.mutable_next_fire_at() = TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(cron->Next(now, *tz)));
    }
    b.Put(kSchedules, sched.id(), sched.SerializeAsString());
    out.push_back(std::move(sched));
  }
  std::lock_guard lock(schedules_mu_);
  if (auto s = store_->Write(b, {.sync = true}); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::Schedule>> Orchestrator::ListSchedules() const {
  std::vector<v1::Schedule> out;
  for (auto it = store_->Scan(kSchedules, ""); it->Valid(); it->Next()) {
    v1::Schedule s;
    if (!s.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          StrCat("schedule '", it->key(), "' is corrupt"));
    }
    out.push_back(std::move(s));
  }
  return out;
}

absl::Status Orchestrator::DeleteSchedule(const std::string& id) {
  std::lock_guard lock(schedules_mu_);
  if (!store_->Get(kSchedules, id).ok()) {
    return absl::NotFoundError(StrCat("schedule '", id, "' not found"));
  }
  storage::WriteBatch b;
  b.Delete(kSchedules, id);
  return store_->Write(b, {.sync = true});
}

int Orchestrator::Tick(absl::Time now) {
  std::lock_guard lock(schedules_mu_);
  auto all = ListSchedules();
  if (!all.ok()) return 0;
  int started = 0;
  for (auto& sched : *all) {
    if (sched.trigger().has_event() || !sched.has_next_fire_at()) continue;
    absl::Time due = ToTime(sched.next_fire_at());
    if (due > now) continue;
    auto cron = CronSchedule::Parse(sched.trigger().schedule());
    auto tz = ZoneOf(sched.trigger());
    if (!cron.ok() || !tz.ok()) continue;
    v1::SubmitRunRequest req;
    *req.mutable_spec() = sched.spec();
    // One run per due time, even if this tick is repeated after a crash.
    req.set_idempotency_key(
        StrCat("schedule:", sched.id(), "@", absl::ToUnixMicros(due)));
    if (SubmitRun(req, StrCat("schedule:", sched.id())).ok()) ++started;
    *sched.mutable_last_fired_at() = sched.next_fire_at();
    *sched.mutable_next_fire_at() = TimeUtil::MicrosecondsToTimestamp(
        absl::ToUnixMicros(cron->Next(now, *tz)));
    (void)store_->Put(kSchedules, sched.id(), sched.SerializeAsString(),
                      {.sync = true});
  }
  return started;
}

absl::Status Orchestrator::HandleEvent(const std::string& source,
                                       const v1::Event& event) {
  std::lock_guard lock(schedules_mu_);
  if (event.sequence() <= EventCursor(source)) return absl::OkStatus();
  auto all = ListSchedules();
  if (!all.ok()) return all.status();
  for (auto& sched : *all) {
    if (!sched.trigger().has_event()) continue;
    const auto& e = sched.trigger().event();
    if (e.source() != source || e.topic() != event.topic()) continue;
    // Only what happens after the trigger exists: a new source's outbox is
    // read from its start, and its old events are history. In whole
    // seconds: events may carry no finer time.
    if (sched.has_created_at() && event.has_time() &&
        event.time().seconds() < sched.created_at().seconds())
      continue;
    bool match = true;
    for (const auto& [k, v] : e.filter()) {
      auto it = event.attributes().find(k);
      match &= it != event.attributes().end() && it->second == v;
    }
    if (!match) continue;
    v1::SubmitRunRequest req;
    *req.mutable_spec() = sched.spec();
    req.set_idempotency_key(
        StrCat("event:", source, "#", event.sequence(), ":", sched.id()));
    auto run =
        SubmitRun(req, StrCat("event:", event.topic(), "#", event.sequence()));
    // Unavailable: try the event again later. Anything else would fail again.
    if (!run.ok() && run.status().code() == absl::StatusCode::kUnavailable)
      return run.status();
    *sched.mutable_last_fired_at() = TimeUtil::GetCurrentTime();
    if (auto s = store_->Put(kSchedules, sched.id(), sched.SerializeAsString(),
                             {.sync = true});
        !s.ok())
      return s;
  }
  std::string seq;
  storage::AppendU64(&seq, event.sequence());
  return store_->Put(kCursors, source, seq, {.sync = true});
}

uint64_t Orchestrator::EventCursor(const std::string& source) const {
  auto raw = store_->Get(kCursors, source);
  return raw.ok() && raw->size() == 8 ? storage::DecodeU64(*raw) : 0;
}

std::set<std::string> Orchestrator::EventSources() const {
  std::set<std::string> out;
  auto all = ListSchedules();
  if (!all.ok()) return out;
  for (const auto& s : *all) {
    if (s.trigger().has_event()) out.insert(s.trigger().event().source());
  }
  return out;
}

}  // namespace mlpipe::orchestrator
