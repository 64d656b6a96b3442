#include "services/score/model_manager.h"

#include <algorithm>
#include <set>

#include "absl/time/clock.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "services/score/score_metrics.h"

namespace mlpipe::score {

using google::protobuf::util::TimeUtil;

std::vector<std::string> VersionsOf(const v1::Route& route) {
  std::vector<std::string> out;
  for (const auto& t : route.targets()) out.push_back(t.model_version());
  for (const auto& v : route.shadows()) out.push_back(v);
  if (!route.fallback().empty()) out.push_back(route.fallback());
  return out;
}

const std::shared_ptr<const serving::Servable>& ServingRoute::Pick(
    double u) const {
  for (size_t i = 0; i + 1 < targets.size(); ++i) {
    if (u < upper[i]) return targets[i];
  }
  return targets.back();
}

std::shared_ptr<const serving::Servable> ServingRoute::FallbackFor(
    const serving::Servable* target) const {
  if (target != targets[primary].get()) return targets[primary];
  if (fallback && fallback.get() != target) return fallback;
  return nullptr;
}

ModelManager::ModelManager(ModelSource* source, std::string default_alias,
                           Loader loader)
    : source_(source),
      default_alias_(std::move(default_alias)),
      loader_(loader ? std::move(loader) : Loader(&serving::Servable::Load)) {
  auto empty = std::make_shared<ServingState>();
  empty->names = AliasNames({}, default_alias_);
  empty->restoring = true;
  current_.store(std::move(empty));
}

absl::StatusOr<std::shared_ptr<const serving::Servable>>
ModelManager::LoadVersion(const std::string& version) {
  {
    std::lock_guard lock(status_mu_);
    auto& st = status_[version];
    st.set_model_version(version);
    st.set_state(v1::LOADING);
    st.clear_error();
  }
  absl::Time start = absl::Now();
  absl::StatusOr<std::shared_ptr<serving::Servable>> loaded =
      [&]() -> absl::StatusOr<std::shared_ptr<serving::Servable>> {
    auto artifact = source_->GetModel(version);
    if (!artifact.ok()) return artifact.status();
    if (artifact->id() != version) {
      return absl::FailedPreconditionError(
          StrCat("asked train for model ", version, ", got ", artifact->id()));
    }
    return loader_(*artifact);
  }();
  double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::lock_guard lock(status_mu_);
  auto& st = status_[version];
  if (!loaded.ok()) {
    st.set_state(v1::FAILED);
    st.set_error(std::string(loaded.status().message()));
    Metrics().loads->Add({{"outcome", "failed"}}).Increment();
    LogWarning("model version did not load",
               {{"version", version}, {"error", st.error()}});
    return loaded.status();
  }
  (*loaded)->set_metrics(NewServableMetrics((*loaded)->name(), version));
  st.set_state(v1::READY);
  st.set_algorithm((*loaded)->summary().algorithm());
  st.set_task((*loaded)->summary().task());
  *st.mutable_loaded_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  st.set_load_seconds(seconds);
  Metrics().loads->Add({{"outcome", "ok"}}).Increment();
  Metrics().load_seconds->Observe(seconds);
  LogInfo("model version loaded",
          {{"version", version}, {"seconds", StrCat(seconds)}});
  return std::shared_ptr<const serving::Servable>(std::move(*loaded));
}

absl::StatusOr<std::shared_ptr<ServingState>> ModelManager::Prepare(
    const std::map<std::string, v1::Route>& routes, bool partial) {
  std::lock_guard prepare(prepare_mu_);
  auto current = Current();
  auto next = std::make_shared<ServingState>();
  std::map<std::string, std::string> failed;  // version -> why
  auto get = [&](const std::string& v) -> absl::Status {
    if (next->versions.contains(v) || failed.contains(v))
      return absl::OkStatus();
    if (auto it = current->versions.find(v); it != current->versions.end()) {
      next->versions[v] = it->second;
      return absl::OkStatus();
    }
    auto s = LoadVersion(v);
    if (!s.ok()) {
      if (!partial) return s.status();
      failed[v] = std::string(s.status().message());
      return absl::OkStatus();
    }
    next->versions[v] = *std::move(s);
    return absl::OkStatus();
  };
  for (const auto& [alias, route] : routes) {
    for (const auto& v : VersionsOf(route))
      if (auto s = get(v); !s.ok()) return s;
  }
  for (const auto& [alias, route] : routes) {
    ServingRoute sr;
    sr.route = route;
    double total = 0;
    std::vector<double> shares;
    for (const auto& t : route.targets()) {
      auto it = next->versions.find(t.model_version());
      if (it == next->versions.end()) {
        StrAppend(&sr.unavailable, sr.unavailable.empty() ? "" : "; ",
                  t.model_version(), ": ", failed[t.model_version()]);
        continue;
      }
      sr.targets.push_back(it->second);
      shares.push_back(std::max(0.0, t.percent()));
      total += shares.back();
    }
    double acc = 0;
    for (size_t i = 0; i < shares.size(); ++i) {
      acc += total > 0 ? shares[i] / total : 1.0 / shares.size();
      sr.upper.push_back(acc);
      if (shares[i] > shares[sr.primary]) sr.primary = i;
    }
    if (!sr.upper.empty()) sr.upper.back() = 1.0;
    if (!sr.targets.empty()) sr.unavailable.clear();
    for (const auto& v : route.shadows()) {
      if (auto it = next->versions.find(v); it != next->versions.end())
        sr.shadows.push_back(it->second);
    }
    if (auto it = next->versions.find(route.fallback());
        it != next->versions.end()) {
      sr.fallback = it->second;
    }
    next->routes.emplace(alias, std::move(sr));
  }
  std::vector<std::string> keys;
  for (const auto& [alias, route] : routes) keys.push_back(alias);
  next->names = AliasNames(keys, default_alias_);
  return next;
}

void ModelManager::Publish(std::shared_ptr<const ServingState> state) {
  {
    std::lock_guard lock(status_mu_);
    std::map<std::string, std::vector<std::string>> aliases;  // By version.
    for (const auto& [alias, r] : state->routes)
      for (const auto& v : VersionsOf(r.route)) aliases[v].push_back(alias);
    for (auto it = status_.begin(); it != status_.end();) {
      v1::LoadedVersion& st = it->second;
      st.clear_aliases();
      auto a = aliases.find(it->first);
      if (a != aliases.end())
        *st.mutable_aliases() = {a->second.begin(), a->second.end()};
      // Forget versions no longer served, and failed ones no route names.
      if ((st.state() == v1::READY && !state->versions.contains(it->first)) ||
          (st.state() == v1::FAILED && st.aliases().empty())) {
        it = status_.erase(it);
      } else {
        ++it;
      }
    }
  }
  Metrics().loaded->Set(static_cast<double>(state->versions.size()));
  current_.store(std::move(state), std::memory_order_release);
}

std::vector<v1::LoadedVersion> ModelManager::Versions() const {
  std::lock_guard lock(status_mu_);
  std::vector<v1::LoadedVersion> out;
  for (const auto& [v, st] : status_) out.push_back(st);
  return out;
}

}  // namespace mlpipe::score
