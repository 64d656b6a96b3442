#include "services/score/deployments.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/storage/key_codec.h"
#include "common/util/ids.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"
#include "services/score/score_metrics.h"

namespace mlpipe::score {
namespace {

using google::protobuf::util::TimeUtil;

std::string LogKey(const std::string& alias, int64_t revision) {
  std::string key = StrCat(alias, std::string_view("\0", 1));
  storage::AppendU64(&key, static_cast<uint64_t>(revision));
  return key;
}

bool Serves(const v1::Route& r, const std::string& version) {
  for (const auto& t : r.targets())
    if (t.model_version() == version) return true;
  return false;
}

// Scales the targets' shares so that they sum to `total`.
void Rescale(v1::Route* r, double total) {
  double sum = 0;
  for (const auto& t : r->targets()) sum += t.percent();
  for (auto& t : *r->mutable_targets()) {
    t.set_percent(sum > 0 ? t.percent() * total / sum
                          : total / r->targets_size());
  }
}

void RemoveShadow(v1::Route* r, const std::string& version) {
  auto* s = r->mutable_shadows();
  for (int i = 0; i < s->size();) {
    if (s->Get(i) == version) {
      s->erase(s->begin() + i);
    } else {
      ++i;
    }
  }
}

void RemoveTarget(v1::Route* r, const std::string& version) {
  auto* t = r->mutable_targets();
  for (int i = 0; i < t->size();) {
    if (t->Get(i).model_version() == version) {
      t->erase(t->begin() + i);
    } else {
      ++i;
    }
  }
}

// Every version the routes name.
std::set<std::string> Named(const std::map<std::string, v1::Route>& routes) {
  std::set<std::string> out;
  for (const auto& [alias, r] : routes)
    for (auto& v : VersionsOf(r)) out.insert(std::move(v));
  return out;
}

// Equal but for revision and who changed it when.
bool SameRoute(v1::Route a, v1::Route b) {
  for (auto* r : {&a, &b}) {
    r->clear_revision();
    r->clear_updated_at();
    r->clear_updated_by();
  }
  return a.SerializeAsString() == b.SerializeAsString();
}

// How `b`'s requests differ from `a`'s: the task, and the input fields (a
// field's name and whether it is text); "" when they are the same.
std::string SchemaDifference(const v1::ModelArtifact& a,
                             const v1::ModelArtifact& b) {
  auto fields = [](const v1::ModelArtifact& m) {
    std::map<std::string, bool> out;  // Name -> is text.
    for (const auto& c : m.transform().columns())
      out[c.input()] =
          c.input_type() == v1::CATEGORICAL || c.input_type() == v1::TEXT;
    return out;
  };
  std::string diff;
  if (a.task() != b.task()) {
    StrAppend(&diff, "task ", absl::AsciiStrToLower(v1::Task_Name(b.task())),
              " vs ", absl::AsciiStrToLower(v1::Task_Name(a.task())));
  }
  const auto fa = fields(a), fb = fields(b);
  std::string missing, extra, kinds;
  for (const auto& [name, text] : fa) {
    auto it = fb.find(name);
    if (it == fb.end()) {
      StrAppend(&missing, missing.empty() ? "" : ", ", name);
    } else if (it->second != text) {
      StrAppend(&kinds, kinds.empty() ? "" : ", ", name);
    }
  }
  for (const auto& [name, text] : fb)
    if (!fa.contains(name)) StrAppend(&extra, extra.empty() ? "" : ", ", name);
  auto add = [&](const std::string& what, const std::string& list) {
    if (!list.empty())
      StrAppend(&diff, diff.empty() ? "" : "; ", what, " [", list, "]");
  };
  add("it lacks input fields", missing);
  add("it takes other input fields", extra);
  add("text vs number in", kinds);
  return diff;
}

}  // namespace

absl::StatusOr<v1::Route> NextRoute(const v1::Route* current,
                                    const v1::DeployRequest& request,
                                    const std::string& version) {
  v1::Route next;
  if (current != nullptr) next = *current;
  next.set_alias(request.alias());
  const std::string primary = current ? PrimaryOf(*current) : "";
  if (!request.traffic().empty()) {
    if (request.shadow() || request.traffic_percent() != 0) {
      return absl::InvalidArgumentError(
          "traffic: an explicit split cannot be combined with shadow or "
          "traffic_percent");
    }
    double sum = 0;
    std::set<std::string> seen;
    next.clear_targets();
    for (int i = 0; i < request.traffic_size(); ++i) {
      const auto& t = request.traffic(i);
      if (t.model_version().empty()) {
        return absl::InvalidArgumentError(
            StrCat("traffic[", i, "].model_version: required"));
      }
      if (!(t.percent() > 0 && t.percent() <= 100)) {
        return absl::InvalidArgumentError(StrCat(
            "traffic[", i, "].percent: ", t.percent(), " is not in (0, 100]"));
      }
      if (!seen.insert(t.model_version()).second) {
        return absl::InvalidArgumentError(StrCat(
            "traffic[", i, "]: ", t.model_version(), " is listed twice"));
      }
      sum += t.percent();
      *next.add_targets() = t;
      RemoveShadow(&next, t.model_version());
    }
    if (std::abs(sum - 100) > 1e-6) {
      return absl::InvalidArgumentError(
          StrCat("traffic: the shares sum to ", sum, ", not 100"));
    }
    std::string new_primary = PrimaryOf(next);
    if (new_primary != primary && !primary.empty()) next.set_fallback(primary);
  } else if (request.shadow()) {
    if (current == nullptr || current->targets().empty()) {
      return absl::FailedPreconditionError(
          StrCat("alias '", request.alias(),
                 "' has no serving version to shadow; deploy one first"));
    }
    if (Serves(*current, version)) {
      return absl::FailedPreconditionError(
          StrCat(version, " already serves alias '", request.alias(), "'"));
    }
    RemoveShadow(&next, version);
    next.add_shadows(version);
  } else {
    double p = request.traffic_percent();
    if (!(p >= 0 && p <= 100)) {
      return absl::InvalidArgumentError(
          StrCat("traffic_percent: ", p, " is not in [0, 100]"));
    }
    if (p == 0) p = 100;
    RemoveShadow(&next, version);
    if (p < 100 && (current == nullptr || current->targets().empty() ||
                    (current->targets_size() == 1 &&
                     current->targets(0).model_version() == version))) {
      p = 100;  // Nothing else serves the alias: it takes all traffic.
    }
    if (p == 100) {
      next.clear_targets();
      auto* t = next.add_targets();
      t->set_model_version(version);
      t->set_percent(100);
      if (!primary.empty() && primary != version) next.set_fallback(primary);
    } else {
      RemoveTarget(&next, version);
      Rescale(&next, 100 - p);
      auto* t = next.add_targets();
      t->set_model_version(version);
      t->set_percent(p);
    }
  }
  if (Serves(next, next.fallback())) {
    // The fallback must be another version than the primary.
    std::string new_primary = PrimaryOf(next);
    if (next.fallback() == new_primary) next.clear_fallback();
  }
  if (request.has_fallback()) {
    if (!request.fallback().empty() && request.fallback() == PrimaryOf(next)) {
      return absl::InvalidArgumentError(
          StrCat("fallback: ", request.fallback(),
                 " is the route's primary; it cannot be its own fallback"));
    }
    next.set_fallback(request.fallback());
  }
  if (request.has_latency_budget_ms()) {
    if (!(request.latency_budget_ms() >= 0)) {
      return absl::InvalidArgumentError(StrCat(
          "latency_budget_ms: ", request.latency_budget_ms(), " must be >= 0"));
    }
    next.set_latency_budget_ms(request.latency_budget_ms());
  }
  next.set_revision((current ? current->revision() : 0) + 1);
  *next.mutable_updated_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  next.set_updated_by(request.set_by().empty() ? "user:unknown"
                                               : request.set_by());
  next.set_reason(request.reason());
  next.clear_restores();
  return next;
}

Deployments::Deployments(storage::Store* store, events::EventLog* events,
                         ModelManager* manager, ModelSource* source,
                         AliasRegistry* registry, std::string default_alias)
    : store_(store),
      events_(events),
      manager_(manager),
      source_(source),
      registry_(registry),
      default_alias_(std::move(default_alias)) {}

absl::StatusOr<std::map<std::string, v1::Route>> Deployments::ReadRoutes()
    const {
  std::map<std::string, v1::Route> out;
  auto it = store_->Scan(kRoutes, "");
  for (; it->Valid(); it->Next()) {
    v1::Route r;
    if (!r.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          StrCat("route '", it->key(), "' is unreadable"));
    }
    out[r.alias()] = std::move(r);
  }
  if (!it->status().ok()) return it->status();
  return out;
}

absl::Status Deployments::MigrateLegacyRoutes() {
  auto parse = [](const storage::Iterator& it, v1::Route* r) {
    return r->ParseFromArray(it.value().data(),
                             static_cast<int>(it.value().size()));
  };
  // Unqualified alias -> its logged routes (key, route), by revision.
  std::map<std::string, std::vector<std::pair<std::string, v1::Route>>> logs;
  for (auto it = store_->Scan(kRouteLog, ""); it->Valid(); it->Next()) {
    const std::string key(it->key());
    std::string alias = key.substr(0, key.find('\0'));
    v1::Route r;
    if (IsQualifiedAlias(alias) || !parse(*it, &r)) continue;
    logs[alias].emplace_back(key, std::move(r));
  }
  std::vector<v1::Route> current;
  for (auto it = store_->Scan(kRoutes, ""); it->Valid(); it->Next()) {
    v1::Route r;
    if (!IsQualifiedAlias(std::string(it->key())) && parse(*it, &r) &&
        !PrimaryOf(r).empty()) {
      r.set_alias(std::string(it->key()));
      current.push_back(std::move(r));
    }
  }
  if (logs.empty() && current.empty()) return absl::OkStatus();
  storage::WriteBatch b;
  for (auto& [alias, log] : logs) {
    std::vector<std::string> versions;
    for (const auto& [key, r] : log) versions.push_back(PrimaryOf(r));
    const auto keys = MigratedAliasKeys(alias, versions);
    for (size_t i = 0; i < log.size(); ++i) {
      auto& [old_key, r] = log[i];
      b.Delete(kRouteLog, old_key);
      if (keys[i].empty()) continue;
      r.set_alias(keys[i]);
      b.Put(kRouteLog, LogKey(keys[i], r.revision()), r.SerializeAsString());
    }
  }
  for (auto& r : current) {
    const std::string alias = r.alias();
    r.set_alias(StrCat(ModelNameOf(PrimaryOf(r)), "@", alias));
    b.Delete(kRoutes, alias);
    b.Put(kRoutes, r.alias(), r.SerializeAsString());
    LogInfo("route moved under its model",
            {{"alias", alias}, {"to", r.alias()}});
  }
  return store_->Write(b, {.sync = true});
}

absl::Status Deployments::Restore() {
  std::lock_guard change(change_mu_);
  if (auto s = MigrateLegacyRoutes(); !s.ok()) return s;
  auto routes = ReadRoutes();
  if (!routes.ok()) return routes.status();
  {
    std::lock_guard lock(mu_);
    routes_ = std::move(*routes);
    restored_ = true;
  }
  auto state = manager_->Prepare(routes_, /*partial=*/true);
  if (!state.ok()) return state.status();
  std::string failed;
  const std::set<std::string> named = Named(routes_);
  for (const auto& st : manager_->Versions()) {
    if (named.contains(st.model_version()) &&
        !(*state)->versions.contains(st.model_version()))
      StrAppend(&failed, failed.empty() ? "" : "; ", st.model_version(), ": ",
                st.error());
  }
  // Complete once every version loaded and, with a registry, once its newer
  // routes are taken too (the first Sync): a new replica's store has none.
  (*state)->restoring = !failed.empty() || registry_ != nullptr;
  manager_->Publish(*std::move(state));
  if (!failed.empty()) {
    return absl::UnavailableError(
        StrCat("deployed versions did not load: ", failed));
  }
  std::lock_guard lock(mu_);
  ready_ = true;
  return absl::OkStatus();
}

bool Deployments::ready() const {
  std::lock_guard lock(mu_);
  return ready_;
}

absl::Status Deployments::Check(const char* kind, absl::Status s) const {
  const char* outcome = s.ok() ? "ok"
                        : (absl::IsInvalidArgument(s) ||
                           absl::IsFailedPrecondition(s) || absl::IsNotFound(s))
                            ? "invalid"
                            : "failed";
  Metrics().deploys->Add({{"outcome", outcome}, {"kind", kind}}).Increment();
  return s;
}

int64_t Deployments::LastRevisionLocked(const std::string& alias) const {
  auto it = routes_.find(alias);
  if (it != routes_.end()) return it->second.revision();
  // Undeployed: the revision of its last logged change.
  auto last =
      store_->LastKey(kRouteLog, StrCat(alias, std::string_view("\0", 1)));
  if (!last.ok() || !last->has_value()) return 0;
  return static_cast<int64_t>(
      storage::DecodeU64(std::string_view(**last).substr(alias.size() + 1)));
}

absl::Status Deployments::Change(std::map<std::string, v1::Route> next,
                                 const std::vector<std::string>& changed,
                                 std::vector<v1::Event> events,
                                 const std::string& set_by) {
  if (!restored_) {
    return absl::UnavailableError(
        "the scoring service is still reading its deployments; retry");
  }
  // 1. Load every version the new routes name (nothing changes on error).
  auto state = manager_->Prepare(next, /*partial=*/false);
  if (!state.ok()) return state.status();
  // The changes as logged: a removed alias as a route without targets.
  std::vector<std::pair<v1::Route, int64_t>> logged;  // With the revision
  for (const auto& alias : changed) {                 // it replaces.
    const int64_t before = LastRevisionLocked(alias);
    auto it = next.find(alias);
    v1::Route r;
    if (it == next.end()) {
      r.set_alias(alias);
      r.set_revision(before + 1);
      *r.mutable_updated_at() =
          TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
      r.set_updated_by(set_by);
    } else {
      r = it->second;
    }
    logged.emplace_back(std::move(r), before);
  }
  // 2. Publish them in the registry, each only if no other scoring replica
  // changed the alias meanwhile; undone on failure.
  std::vector<std::pair<v1::Route, int64_t>> undo;  // Old route, revision now.
  // Undone by a revision of its own, so that replicas which took the change
  // take the undoing too; a rollback from it goes back before what it
  // restores.
  auto restore = [&] {
    for (auto& [old, now] : undo) {
      if (old.restores() == 0) old.set_restores(old.revision());
      old.set_revision(now + 1);
      (void)registry_->PublishRoute(old, now, set_by);
    }
  };
  for (const auto& [route, before] : logged) {
    if (registry_ == nullptr) break;
    if (auto s = registry_->PublishRoute(route, before, set_by); !s.ok()) {
      restore();
      return absl::Status(
          s.code(), StrCat("the model registry did not take alias '",
                           route.alias(), "' (revision ", route.revision(),
                           "): ", std::string(s.message())));
    }
    auto old = routes_.find(route.alias());
    v1::Route previous;
    if (old != routes_.end()) {
      previous = old->second;
    } else {
      previous.set_alias(route.alias());
      previous.set_revision(before);
    }
    undo.emplace_back(std::move(previous), route.revision());
  }
  // 3. Store the routes with their events.
  storage::WriteBatch b;
  for (const auto& [route, before] : logged) {
    if (route.targets().empty()) {
      b.Delete(kRoutes, route.alias());
    } else {
      b.Put(kRoutes, route.alias(), route.SerializeAsString());
    }
    b.Put(kRouteLog, LogKey(route.alias(), route.revision()),
          route.SerializeAsString());
  }
  if (auto s = events_->Commit(std::move(b), std::move(events), {.sync = true});
      !s.ok()) {
    restore();
    return s;
  }
  // 4. Serve them.
  manager_->Publish(*std::move(state));
  std::lock_guard lock(mu_);
  routes_ = std::move(next);
  return absl::OkStatus();
}

absl::StatusOr<bool> Deployments::Sync() {
  if (registry_ == nullptr) return false;
  auto remote = registry_->Routes();
  if (!remote.ok()) return remote.status();
  std::lock_guard change(change_mu_);
  if (!restored_) {
    return absl::UnavailableError(
        "the scoring service is still reading its deployments");
  }
  auto next = routes_;
  std::vector<const v1::Route*> newer;
  for (const auto& r : *remote) {
    if (r.alias().empty() || r.revision() <= LastRevisionLocked(r.alias()))
      continue;
    newer.push_back(&r);
    if (r.targets().empty()) {
      next.erase(r.alias());
    } else {
      next[r.alias()] = r;
    }
  }
  if (newer.empty()) {
    if (!manager_->Current()->restoring || !ready()) return false;
    // The first sync of a start, with nothing newer: what is served is
    // complete (a name it does not know is NOT_FOUND from now on).
    auto state = manager_->Prepare(routes_, /*partial=*/false);
    if (!state.ok()) return state.status();
    manager_->Publish(*std::move(state));
    return false;
  }
  // Loaded before anything changes; an error is retried by the next sync.
  auto state = manager_->Prepare(next, /*partial=*/false);
  if (!state.ok()) return state.status();
  storage::WriteBatch b;
  for (const v1::Route* r : newer) {
    if (r->targets().empty()) {
      b.Delete(kRoutes, r->alias());
    } else {
      b.Put(kRoutes, r->alias(), r->SerializeAsString());
    }
    b.Put(kRouteLog, LogKey(r->alias(), r->revision()), r->SerializeAsString());
    CacheHistory(r->alias(), b);  // The revisions between the syncs.
  }
  if (auto s = store_->Write(b, {.sync = true}); !s.ok()) return s;
  manager_->Publish(*std::move(state));
  {
    std::lock_guard lock(mu_);
    routes_ = std::move(next);
  }
  for (const v1::Route* r : newer) {
    LogInfo("route synced from the registry",
            {{"alias", r->alias()},
             {"primary", PrimaryOf(*r)},
             {"revision", StrCat(r->revision())},
             {"set_by", r->updated_by()}});
  }
  return true;
}

absl::StatusOr<std::string> Deployments::RouteKey(const v1::DeployRequest& r,
                                                  const std::string& version) {
  // MODEL@ALIAS may serve another model's versions (schemas are checked).
  if (IsQualifiedAlias(r.alias())) return QualifiedAlias("", r.alias());
  if (r.traffic().empty())
    return QualifiedAlias(ModelNameOf(version), r.alias());
  // An explicit split under an unqualified alias: of one model's versions.
  std::set<std::string> models;
  for (const auto& t : r.traffic())
    models.insert(ModelNameOf(t.model_version()));
  if (models.size() != 1) {
    return absl::InvalidArgumentError(StrCat(
        "alias: the split is of several models' versions (",
        absl::StrJoin(models, ", "), "): name its alias as MODEL@", r.alias()));
  }
  return QualifiedAlias(*models.begin(), r.alias());
}

absl::StatusOr<std::string> Deployments::Find(const std::string& name) const {
  if (IsQualifiedAlias(name)) return name;
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, route] : routes_) keys.push_back(key);
  }
  return AliasNames(keys, default_alias_).Find(name);
}

absl::StatusOr<v1::DeployResponse> Deployments::Deploy(
    const v1::DeployRequest& request) {
  v1::DeployRequest r = request;
  if (r.alias().empty()) r.set_alias(default_alias_);
  if (r.traffic().empty() && r.model_version().empty()) {
    return Check("deploy",
                 absl::InvalidArgumentError("model_version: required"));
  }
  // Bare names and explicit splits resolve to "name:version" first.
  std::string version = r.model_version();
  if (r.traffic().empty() && version.find(':') == std::string::npos) {
    auto a = source_->GetModel(version);
    if (!a.ok()) return Check("deploy", a.status());
    version = a->id();
  }
  auto key = RouteKey(r, version);
  if (!key.ok()) return Check("deploy", key.status());
  r.set_alias(*key);
  std::lock_guard change(change_mu_);
  auto it = routes_.find(r.alias());
  if (r.expected_revision() != 0) {
    const int64_t now = it == routes_.end() ? 0 : it->second.revision();
    if (now != r.expected_revision()) {
      return Check("deploy",
                   absl::AbortedError(StrCat(
                       "alias '", r.alias(), "' is at revision ", now, ", not ",
                       r.expected_revision(), ": it changed meanwhile")));
    }
  }
  // An alias undeployed before goes on from its last revision.
  v1::Route none;
  none.set_alias(r.alias());
  none.set_revision(LastRevisionLocked(r.alias()));
  auto route = NextRoute(it == routes_.end() ? &none : &it->second, r, version);
  if (!route.ok()) return Check("deploy", route.status());
  if (it != routes_.end() && SameRoute(it->second, *route)) {
    // Already served this way: nothing changes (a re-run pipeline's deploy).
    Check("deploy", absl::OkStatus()).IgnoreError();
    return Response(it->second);
  }
  if (it != routes_.end() && !r.force_schema_change()) {
    if (auto s = CheckSchema(it->second, *route); !s.ok())
      return Check("deploy", s);
  }
  auto next = routes_;
  next[r.alias()] = *route;
  std::string set_by = route->updated_by();
  v1::Event e = events::EventLog::Make(
      "model.deployed",
      {{"alias", r.alias()},
       {"model_version", r.traffic().empty() ? version : PrimaryOf(*route)},
       {"primary", PrimaryOf(*route)},
       {"percent", StrCat(r.shadow()                 ? 0.0
                          : r.traffic_percent() == 0 ? 100.0
                                                     : r.traffic_percent())},
       {"shadow", r.shadow() ? "true" : "false"},
       {"revision", StrCat(route->revision())},
       {"set_by", set_by}});
  if (auto s = Change(std::move(next), {r.alias()}, {e}, set_by); !s.ok())
    return Check("deploy", s);
  Check("deploy", absl::OkStatus()).IgnoreError();
  LogInfo("deployed", {{"alias", r.alias()},
                       {"primary", PrimaryOf(*route)},
                       {"revision", StrCat(route->revision())}});
  return Response(*route);
}

absl::Status Deployments::CheckSchema(const v1::Route& current,
                                      const v1::Route& next) const {
  const std::string primary = PrimaryOf(current);
  if (primary.empty()) return absl::OkStatus();
  const auto before = VersionsOf(current);
  std::optional<v1::ModelArtifact> served;
  for (const auto& version : VersionsOf(next)) {
    if (std::find(before.begin(), before.end(), version) != before.end())
      continue;  // Serving beside it already.
    if (!served) {
      auto a = source_->GetModel(primary);
      if (!a.ok()) return absl::OkStatus();  // Gone: nothing to compare.
      served = *std::move(a);
    }
    auto a = source_->GetModel(version);
    if (!a.ok()) return a.status();
    if (std::string diff = SchemaDifference(*served, *a); !diff.empty()) {
      return absl::FailedPreconditionError(
          StrCat(version, " cannot serve alias '", next.alias(), "' beside ",
                 primary, ": ", diff,
                 "; requests for the one would not fit the other (deploy under "
                 "another alias, or pass force_schema_change / "
                 "--force-schema-change to change the schema on purpose)"));
    }
  }
  return absl::OkStatus();
}

v1::DeployResponse Deployments::Response(const v1::Route& route) const {
  v1::DeployResponse out;
  *out.mutable_route() = route;
  for (const auto& v : manager_->Versions()) {
    for (const auto& a : v.aliases())
      if (a == route.alias()) *out.add_versions() = v;
  }
  return out;
}

absl::StatusOr<v1::ListDeploymentsResponse> Deployments::Undeploy(
    const v1::UndeployRequest& request) {
  if (request.model_version().empty()) {
    return Check("undeploy",
                 absl::InvalidArgumentError("model_version: required"));
  }
  std::lock_guard change(change_mu_);
  const std::string& v = request.model_version();
  const std::string set_by =
      request.set_by().empty() ? "user:unknown" : request.set_by();
  auto next = routes_;
  std::vector<std::string> changed;
  std::vector<v1::Event> events;
  std::string only;  // The one route to change; "": every one.
  if (!request.alias().empty()) {
    auto key =
        QualifiedAlias(IsQualifiedAlias(request.alias()) ? "" : ModelNameOf(v),
                       request.alias());
    if (!key.ok()) return Check("undeploy", key.status());
    only = *key;
  }
  for (auto& [alias, route] : routes_) {
    if (!only.empty() && alias != only) continue;
    v1::Route r = route;
    bool was_primary = PrimaryOf(r) == v;
    RemoveTarget(&r, v);
    RemoveShadow(&r, v);
    if (r.fallback() == v) r.clear_fallback();
    if (r.SerializeAsString() == route.SerializeAsString()) continue;
    changed.push_back(alias);
    if (r.targets().empty()) {
      next.erase(alias);
    } else {
      Rescale(&r, 100);
      if (was_primary && !r.fallback().empty() && !Serves(r, r.fallback()))
        r.clear_fallback();
      r.set_revision(route.revision() + 1);
      *r.mutable_updated_at() =
          TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
      r.set_updated_by(set_by);
      r.clear_reason();
      r.clear_restores();
      next[alias] = r;
    }
    events.push_back(events::EventLog::Make(
        "model.undeployed",
        {{"alias", alias},
         {"model_version", v},
         {"primary", r.targets().empty() ? "" : PrimaryOf(r)},
         {"set_by", set_by}}));
  }
  if (changed.empty()) {
    return Check("undeploy", absl::NotFoundError(StrCat(
                                 v, " is not deployed",
                                 request.alias().empty()
                                     ? ""
                                     : StrCat(" under alias '", only, "'"))));
  }
  if (auto s = Change(std::move(next), changed, std::move(events), set_by);
      !s.ok()) {
    return Check("undeploy", s);
  }
  Check("undeploy", absl::OkStatus()).IgnoreError();
  return ListLocked();
}

namespace {

// The revision a rollback from the newest one of `log` (newest first) serves
// again: the one before the revision the newest serves (a rollback's
// restores), so that rollbacks walk back one revision each, never forward.
absl::StatusOr<const v1::Route*> RevisionBefore(
    const std::vector<v1::Route>& log) {
  int64_t at = log[0].restores() > 0 ? log[0].restores() : log[0].revision();
  for (const auto& r : log) {
    if (r.revision() >= at) continue;
    return &r;
  }
  return absl::FailedPreconditionError(
      StrCat("alias '", log[0].alias(), "' has no revision before revision ",
             at, " to go back to"));
}

}  // namespace

absl::StatusOr<v1::Route> Deployments::Rollback(
    const v1::RollbackRequest& request) {
  const std::string set_by =
      request.set_by().empty() ? "rollback" : request.set_by();
  std::lock_guard change(change_mu_);
  auto key = Find(request.alias());
  if (!key.ok()) return Check("rollback", key.status());
  const std::string& alias = *key;
  // The history, newest first: the revision before the one served now.
  auto log = History(alias);
  if (absl::IsNotFound(log.status())) log = std::vector<v1::Route>();
  if (!log.ok()) return log.status();
  if (log->size() < 2) {
    return Check("rollback", absl::FailedPreconditionError(StrCat(
                                 "alias '", alias,
                                 "' has no earlier route to go back to")));
  }
  const v1::Route& current = (*log)[0];
  auto earlier = RevisionBefore(*log);
  if (!earlier.ok()) return Check("rollback", earlier.status());
  v1::Route r = **earlier;
  r.set_restores(r.restores() > 0 ? r.restores() : r.revision());
  r.set_reason(request.reason());
  if (r.targets().empty()) {
    return Check(
        "rollback",
        absl::FailedPreconditionError(StrCat(
            "alias '", alias, "' was not served at revision ", r.restores())));
  }
  r.set_revision(current.revision() + 1);
  *r.mutable_updated_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(absl::Now()));
  r.set_updated_by(set_by);
  auto next = routes_;
  next[alias] = r;
  v1::Event e = events::EventLog::Make("model.rolled_back",
                                       {{"alias", alias},
                                        {"model_version", PrimaryOf(r)},
                                        {"from", PrimaryOf(current)},
                                        {"revision", StrCat(r.revision())},
                                        {"reason", request.reason()},
                                        {"set_by", set_by}});
  if (auto s = Change(std::move(next), {alias}, {e}, set_by); !s.ok())
    return Check("rollback", s);
  Check("rollback", absl::OkStatus()).IgnoreError();
  LogWarning("rolled back", {{"alias", alias},
                             {"from", PrimaryOf(current)},
                             {"to", PrimaryOf(r)},
                             {"reason", request.reason()}});
  return r;
}

v1::ListDeploymentsResponse Deployments::List() const {
  std::lock_guard lock(mu_);
  return ListLocked();
}

v1::ListDeploymentsResponse Deployments::ListLocked() const {
  v1::ListDeploymentsResponse out;
  for (const auto& [alias, r] : routes_) *out.add_routes() = r;
  out.set_ready(ready_);
  for (auto& v : manager_->Versions()) *out.add_versions() = std::move(v);
  out.set_default_alias(default_alias_);
  return out;
}

absl::StatusOr<std::vector<v1::Route>> Deployments::History(
    const std::string& name) const {
  auto key = Find(name);
  if (!key.ok()) return key.status();
  const std::string& alias = *key;
  if (registry_ == nullptr) return CachedHistory(alias);
  auto history = registry_->History(alias);
  const absl::Status& s = history.status();
  if (!absl::IsUnavailable(s) && !absl::IsDeadlineExceeded(s)) return history;
  LogWarning("the model registry is unreachable: route history from cache",
             {{"alias", alias}, {"error", std::string(s.message())}});
  return CachedHistory(alias);
}

absl::StatusOr<std::vector<v1::Route>> Deployments::CachedHistory(
    const std::string& alias) const {
  std::vector<v1::Route> out;
  auto it = store_->Scan(kRouteLog, StrCat(alias, std::string_view("\0", 1)));
  for (; it->Valid(); it->Next()) {
    v1::Route r;
    if (!r.ParseFromArray(it->value().data(),
                          static_cast<int>(it->value().size()))) {
      return absl::DataLossError(
          StrCat("route log of '", alias, "' is corrupt"));
    }
    out.push_back(std::move(r));
  }
  if (!it->status().ok()) return it->status();
  if (out.empty())
    return absl::NotFoundError(
        StrCat("alias '", alias, "' was never deployed"));
  std::reverse(out.begin(), out.end());
  return out;
}

void Deployments::CacheHistory(const std::string& alias,
                               storage::WriteBatch& b) const {
  auto history = registry_->History(alias);
  if (!history.ok()) return;  // The next sync fills what is missing.
  for (const auto& r : *history)
    b.Put(kRouteLog, LogKey(alias, r.revision()), r.SerializeAsString());
}

}  // namespace mlpipe::score
