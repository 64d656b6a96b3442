#include "services/prep/push_follower.h"

#include <algorithm>
#include <set>

#include "common/rpc/status.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "mlpipe/v1/ingest_service.grpc.pb.h"

namespace mlpipe::prep {
namespace {

// The views of `dataset` that take pushed rows (made or backfilled with
// raw columns), by name, with the lowest position they applied.
std::set<std::string> Views(OnlineStore* online, const std::string& dataset,
                            int64_t* lowest) {
  std::set<std::string> names;
  *lowest = INT64_MAX;
  for (const auto& v : online->ViewsOf(dataset)) {
    if (v.raw_columns().empty()) continue;
    names.insert(v.name());
    *lowest = std::min(*lowest, v.pushed_through());
  }
  return names;
}

}  // namespace

PushFollower::~PushFollower() { Stop(); }

void PushFollower::Sync() {
  std::set<std::string> datasets;
  for (const auto& v : online_->ViewsOf("")) datasets.insert(v.dataset());
  std::lock_guard lock(mu_);
  if (stop_) return;
  for (const auto& d : datasets) {
    if (threads_.contains(d)) continue;
    threads_[d] = std::thread([this, d] { Follow(d); });
  }
}

void PushFollower::Stop() {
  std::map<std::string, std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stop_ = true;
    for (auto& [d, call] : calls_) call->TryCancel();
    threads.swap(threads_);
  }
  stopped_.notify_all();
  for (auto& [d, t] : threads) t.join();
}

void PushFollower::Follow(const std::string& dataset) {
  absl::Status last;
  while (true) {
    absl::Status s = FollowOnce(dataset);
    bool stopping;
    {
      std::lock_guard lock(mu_);
      stopping = stop_;
    }
    if (!s.ok() && !stopping && s.message() != last.message()) {
      // UNAVAILABLE: ingestion restarting or stopping (in the standalone,
      // before prep): expected, and followed again once it is back.
      (absl::IsUnavailable(s) ? LogInfo : LogWarning)(
          "pushed rows not followed into the online store (retried)",
          {{"dataset", dataset}, {"error", std::string(s.message())}});
    }
    last = s;
    std::unique_lock lock(mu_);
    if (s.ok()) {
      if (stop_) return;
      continue;  // The views changed: again from their positions.
    }
    if (stopped_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; }))
      return;
  }
}

absl::Status PushFollower::FollowOnce(const std::string& dataset) {
  int64_t after = 0;
  const std::set<std::string> views = Views(online_, dataset, &after);
  if (views.empty()) return absl::UnavailableError("no online view to feed");
  grpc::ClientContext ctx;
  {
    std::lock_guard lock(mu_);
    if (stop_) return absl::OkStatus();
    calls_[dataset] = &ctx;
  }
  auto stub = v1::Ingestion::NewStub(channel_());
  v1::WatchPushesRequest req;
  req.set_dataset(dataset);
  req.set_after(after);
  auto reader = stub->WatchPushes(&ctx, req);
  v1::PushedRows rows;
  absl::Status result;
  while (reader->Read(&rows)) {
    int64_t lowest;
    if (Views(online_, dataset, &lowest) != views) {
      ctx.TryCancel();  // A view came or went: from its position.
      break;
    }
    auto applied = preparer_->ApplyPushed(dataset, rows);
    if (!applied.ok()) {
      result = applied.status();
      ctx.TryCancel();
      break;
    }
  }
  grpc::Status end = reader->Finish();
  {
    std::lock_guard lock(mu_);
    calls_.erase(dataset);
  }
  if (!result.ok()) return result;
  if (end.error_code() == grpc::StatusCode::CANCELLED) return absl::OkStatus();
  return end.ok() ? absl::UnavailableError("the push stream ended")
                  : rpc::FromGrpcStatus(end);
}

}  // namespace mlpipe::prep
