#include "common/ops/operation_manager.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "common/metrics/metrics.h"
#include "common/util/ids.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::ops {
namespace {

using google::protobuf::util::TimeUtil;

// Operations that ended, by service, kind, state and (for failures) code:
// bad input found while working (a missing column, a split of another
// version) is counted here, as the RPC that started the work succeeded.
prometheus::Family<prometheus::Counter>& EndedOperations() {
  static auto* family = &prometheus::BuildCounter()
                             .Name("mlpipe_operations_ended_total")
                             .Help(
                                 "Long-running operations that ended, by "
                                 "service, kind, state and error code.")
                             .Register(metrics::Registry());
  return *family;
}

std::string OpKey(const std::string& id) { return "o/" + id; }
std::string IdemKey(const std::string& key) { return "k/" + key; }

}  // namespace

bool Ended(const v1::Operation& op) {
  return op.state() == v1::Operation::SUCCEEDED ||
         op.state() == v1::Operation::FAILED ||
         op.state() == v1::Operation::CANCELLED;
}

struct OperationManager::Live {
  v1::OperationRecord record;
  std::atomic<bool> cancel{false};
  absl::Time last_persist = absl::InfinitePast();
};

class OperationManager::LiveProgress final : public Progress {
 public:
  LiveProgress(OperationManager* m, std::shared_ptr<Live> live)
      : m_(m), live_(std::move(live)) {}
  bool Cancelled() const override { return live_->cancel.load(); }
  std::string operation_id() const override {
    std::lock_guard lock(m_->mu_);
    return live_->record.operation().id();
  }
  using Progress::Update;
  void Update(int64_t done, int64_t total, const std::string& message,
              double fraction) override {
    std::lock_guard lock(m_->mu_);
    auto* p = live_->record.mutable_operation()->mutable_progress();
    p->set_done(done);
    p->set_total(total);
    if (fraction < 0) {
      fraction = total > 0 ? static_cast<double>(done) / total : 0.0;
    }
    p->set_fraction(std::clamp(fraction, 0.0, 1.0));
    p->set_message(message);
    bool persist = absl::Now() - live_->last_persist > absl::Seconds(1);
    (void)m_->ChangedLocked(*live_, persist);  // Progress is best effort.
  }

 private:
  OperationManager* const m_;
  std::shared_ptr<Live> live_;
};

OperationManager::OperationManager(OperationManagerOptions options,
                                   storage::Store* store)
    : options_(std::move(options)), store_(store) {}

OperationManager::~OperationManager() { Stop(); }

void OperationManager::Register(const std::string& kind, Work work) {
  kinds_[kind] = std::move(work);
}

absl::Status OperationManager::ChangedLocked(Live& live, bool persist) {
  v1::Operation& op = *live.record.mutable_operation();
  op.set_revision(op.revision() + 1);
  *op.mutable_updated_at() = TimeUtil::GetCurrentTime();
  absl::Status s;
  if (persist) {
    // Acknowledged state changes survive kill -9 (and a machine crash).
    s = store_->Put(kOperationsColumnFamily, OpKey(op.id()),
                    live.record.SerializeAsString(), {.sync = Ended(op)});
    live.last_persist = absl::Now();
  }
  {
    std::lock_guard lock(listeners_mu_);
    for (auto& [h, fn] : listeners_) fn(op);
  }
  changed_.notify_all();
  return s;
}

absl::Status OperationManager::Resume() {
  std::vector<v1::OperationRecord> interrupted;
  auto it = store_->Scan(kOperationsColumnFamily, "o/");
  for (; it->Valid(); it->Next()) {
    v1::OperationRecord r;
    if (!r.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          StrCat("operation record ", it->key(), " is corrupt"));
    }
    if (!Ended(r.operation())) interrupted.push_back(std::move(r));
  }
  if (!it->status().ok()) return it->status();
  {
    std::lock_guard lock(mu_);
    for (auto& r : interrupted) {
      auto live = std::make_shared<Live>();
      live->record = std::move(r);
      const std::string id = live->record.operation().id();
      v1::Operation& op = *live->record.mutable_operation();
      live_[id] = live;
      if (!kinds_.count(op.kind())) {
        op.set_state(v1::Operation::FAILED);
        op.mutable_error()->set_code(
            static_cast<int>(absl::StatusCode::kInternal));
        op.mutable_error()->set_message(
            StrCat("kind '", op.kind(), "' is not known to this server"));
        if (auto s = ChangedLocked(*live, true); !s.ok()) return s;
        continue;
      }
      op.set_state(v1::Operation::PENDING);
      op.mutable_progress()->set_message("resumed after a restart");
      if (auto s = ChangedLocked(*live, true); !s.ok()) return s;
      queue_.push_back(id);
      LogInfo("operation resumed", {{"operation", id}, {"kind", op.kind()}});
    }
  }
  for (int i = 0; i < std::max(1, options_.workers); ++i)
    workers_.emplace_back([this] { WorkerLoop(); });
  return absl::OkStatus();
}

absl::StatusOr<v1::Operation> OperationManager::Start(
    const std::string& kind, const google::protobuf::Message& request,
    const std::string& idempotency_key) {
  if (!kinds_.count(kind)) {
    return absl::InvalidArgumentError(
        StrCat("kind: unknown operation kind '", kind, "'"));
  }
  std::lock_guard lock(mu_);
  if (stopping_) return absl::UnavailableError("the service is stopping");
  if (!idempotency_key.empty()) {
    auto id = store_->Get(kOperationsColumnFamily, IdemKey(idempotency_key));
    if (id.ok()) {
      if (auto it = live_.find(*id); it != live_.end())
        return it->second->record.operation();
      auto raw = store_->Get(kOperationsColumnFamily, OpKey(*id));
      v1::OperationRecord r;
      if (raw.ok() && r.ParseFromString(*raw)) return r.operation();
    } else if (!absl::IsNotFound(id.status())) {
      return id.status();
    }
  }
  auto live = std::make_shared<Live>();
  v1::Operation& op = *live->record.mutable_operation();
  op.set_id(NewId(options_.service + "-op-"));
  op.set_kind(kind);
  op.set_state(v1::Operation::PENDING);
  op.set_revision(1);
  *op.mutable_created_at() = TimeUtil::GetCurrentTime();
  *op.mutable_updated_at() = op.created_at();
  live->record.mutable_request()->PackFrom(request);
  live->record.set_idempotency_key(idempotency_key);
  storage::WriteBatch b;
  b.Put(kOperationsColumnFamily, OpKey(op.id()),
        live->record.SerializeAsString());
  if (!idempotency_key.empty())
    b.Put(kOperationsColumnFamily, IdemKey(idempotency_key), op.id());
  if (auto s = store_->Write(b, {.sync = true}); !s.ok()) return s;
  live_[op.id()] = live;
  queue_.push_back(op.id());
  changed_.notify_all();
  return op;
}

absl::StatusOr<v1::Operation> OperationManager::Get(
    const std::string& id) const {
  {
    std::lock_guard lock(mu_);
    if (auto it = live_.find(id); it != live_.end())
      return it->second->record.operation();
  }
  auto raw = store_->Get(kOperationsColumnFamily, OpKey(id));
  if (absl::IsNotFound(raw.status()))
    return absl::NotFoundError(StrCat("operation '", id, "' not found"));
  if (!raw.ok()) return raw.status();
  v1::OperationRecord r;
  if (!r.ParseFromString(*raw))
    return absl::DataLossError(StrCat("operation '", id, "' is corrupt"));
  return r.operation();
}

absl::StatusOr<std::vector<v1::Operation>> OperationManager::List(
    const std::string& kind, int limit) const {
  if (limit <= 0) limit = 50;
  std::vector<v1::Operation> all;
  auto it = store_->Scan(kOperationsColumnFamily, "o/");
  for (; it->Valid(); it->Next()) {
    v1::OperationRecord r;
    if (!r.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size())))
      continue;
    if (kind.empty() || r.operation().kind() == kind)
      all.push_back(std::move(*r.mutable_operation()));
  }
  if (!it->status().ok()) return it->status();
  std::reverse(all.begin(), all.end());  // Ids sort by creation time.
  if (static_cast<int>(all.size()) > limit) all.resize(limit);
  std::lock_guard lock(mu_);  // Live state is newer than the stored one.
  for (auto& op : all) {
    if (auto l = live_.find(op.id()); l != live_.end())
      op = l->second->record.operation();
  }
  return all;
}

absl::StatusOr<v1::Operation> OperationManager::Cancel(const std::string& id) {
  std::unique_lock lock(mu_);
  auto it = live_.find(id);
  if (it == live_.end()) {
    lock.unlock();
    return Get(id);  // Ended (or absent).
  }
  Live& live = *it->second;
  live.cancel = true;
  v1::Operation& op = *live.record.mutable_operation();
  if (op.state() == v1::Operation::PENDING) {
    // Not started: it ends here; the worker skips it.
    op.set_state(v1::Operation::CANCELLED);
    op.mutable_error()->set_code(
        static_cast<int>(absl::StatusCode::kCancelled));
    op.mutable_error()->set_message("cancelled before it started");
    auto s = ChangedLocked(live, true);
    v1::Operation out = op;
    live_.erase(it);
    if (!s.ok()) return s;
    return out;
  }
  return op;
}

absl::StatusOr<v1::Operation> OperationManager::Wait(const std::string& id,
                                                     absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  std::unique_lock lock(mu_);
  while (true) {
    auto it = live_.find(id);
    if (it == live_.end()) break;
    if (Ended(it->second->record.operation()))
      return it->second->record.operation();
    if (changed_.wait_until(lock, absl::ToChronoTime(deadline)) ==
        std::cv_status::timeout) {
      auto again = live_.find(id);
      if (again != live_.end()) return again->second->record.operation();
      break;
    }
  }
  lock.unlock();
  return Get(id);
}

int OperationManager::AddListener(
    std::function<void(const v1::Operation&)> fn) {
  std::lock_guard lock(listeners_mu_);
  listeners_[next_listener_] = std::move(fn);
  return next_listener_++;
}

void OperationManager::RemoveListener(int handle) {
  std::lock_guard lock(listeners_mu_);
  listeners_.erase(handle);
}

void OperationManager::WorkerLoop() {
  while (true) {
    std::string id;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      id = std::move(queue_.front());
      queue_.pop_front();
    }
    RunOne(id);
  }
}

void OperationManager::RunOne(const std::string& id) {
  std::shared_ptr<Live> live;
  const Work* work = nullptr;
  google::protobuf::Any request;
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) return;  // Cancelled while pending.
    live = it->second;
    v1::Operation& op = *live->record.mutable_operation();
    work = &kinds_.at(op.kind());
    request = live->record.request();
    op.set_state(v1::Operation::RUNNING);
    if (auto s = ChangedLocked(*live, true); !s.ok()) {
      LogError("cannot record operation start",
               {{"operation", id}, {"error", std::string(s.message())}});
    }
  }
  LiveProgress progress(this, live);
  absl::StatusOr<google::protobuf::Any> result = (*work)(request, progress);

  std::lock_guard lock(mu_);
  if (stopping_ && !result.ok() && live->cancel) {
    // Interrupted by shutdown, not by a user: it stays RUNNING in the store
    // and runs again after the restart.
    live_.erase(id);
    return;
  }
  v1::Operation& op = *live->record.mutable_operation();
  if (result.ok()) {
    op.set_state(v1::Operation::SUCCEEDED);
    *op.mutable_result() = std::move(*result);
    op.mutable_progress()->set_fraction(1.0);
  } else {
    op.set_state(absl::IsCancelled(result.status()) && live->cancel
                     ? v1::Operation::CANCELLED
                     : v1::Operation::FAILED);
    op.mutable_error()->set_code(static_cast<int>(result.status().code()));
    op.mutable_error()->set_message(std::string(result.status().message()));
  }
  EndedOperations()
      .Add({{"service", options_.service},
            {"kind", op.kind()},
            {"state",
             absl::AsciiStrToLower(v1::Operation::State_Name(op.state()))},
            {"code", result.ok()
                         ? "OK"
                         : absl::StatusCodeToString(result.status().code())}})
      .Increment();
  if (auto s = ChangedLocked(*live, true); !s.ok()) {
    LogError("cannot record operation end",
             {{"operation", id}, {"error", std::string(s.message())}});
  }
  live_.erase(id);
}

void OperationManager::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && workers_.empty()) return;
    stopping_ = true;
    for (auto& [id, live] : live_) live->cancel = true;
    changed_.notify_all();
  }
  for (auto& t : workers_) t.join();
  workers_.clear();
}

}  // namespace mlpipe::ops
