#include "services/orchestrator/model_registry.h"

#include "absl/time/clock.h"
#include "clients/routes.h"
#include "common/storage/key_codec.h"
#include "common/util/ids.h"
#include "common/util/log.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kAliases[] = "aliases";
constexpr char kAliasLog[] = "alias_log";

std::string AliasLogKey(const std::string& alias, int64_t micros) {
  std::string k = alias;
  k.push_back('\0');
  storage::AppendU64(&k, static_cast<uint64_t>(micros));
  return k;
}

}  // namespace

void ModelRegistry::AddColumnFamilies(storage::Options* options) {
  for (const char* cf : {kAliases, kAliasLog})
    options->column_families.push_back({.name = cf});
}

absl::Status ModelRegistry::Migrate() {
  std::lock_guard lock(mu_);
  std::vector<std::string> legacy;
  for (auto it = store_->Scan(kAliases, ""); it->Valid(); it->Next()) {
    std::string alias(it->key());
    if (!score::IsQualifiedAlias(alias)) legacy.push_back(std::move(alias));
  }
  if (legacy.empty()) return absl::OkStatus();
  storage::WriteBatch b;
  for (const auto& alias : legacy) {
    std::vector<std::pair<std::string, v1::AliasRecord>> log;
    for (auto it = store_->Scan(kAliasLog, alias + '\0'); it->Valid();
         it->Next()) {
      v1::AliasRecord r;
      r.ParseFromArray(it->value().data(),
                       static_cast<int>(it->value().size()));
      log.emplace_back(std::string(it->key()), std::move(r));
    }
    std::vector<std::string> versions;
    for (const auto& [k, r] : log) versions.push_back(r.model_version());
    const auto keys = score::MigratedAliasKeys(alias, versions);
    for (size_t i = 0; i < log.size(); ++i) {
      auto& [old_key, r] = log[i];
      b.Delete(kAliasLog, old_key);
      if (keys[i].empty()) continue;  // Names no model: nothing to keep.
      r.set_alias(keys[i]);
      if (r.has_route()) r.mutable_route()->set_alias(keys[i]);
      b.Put(kAliasLog, keys[i] + old_key.substr(alias.size()),
            r.SerializeAsString());
    }
    b.Delete(kAliases, alias);
    if (!log.empty() && !keys.back().empty()) {
      v1::AliasRecord current = log.back().second;  // Already re-keyed.
      b.Put(kAliases, keys.back(), current.SerializeAsString());
    }
    LogInfo(
        "alias moved under its model",
        {{"alias", alias}, {"to", keys.empty() ? std::string() : keys.back()}});
  }
  return store_->Write(b, {.sync = true});
}

absl::StatusOr<std::string> ModelRegistry::Find(const std::string& name) const {
  if (score::IsQualifiedAlias(name)) return name;
  std::vector<std::string> keys;
  for (auto it = store_->Scan(kAliases, ""); it->Valid(); it->Next())
    keys.emplace_back(it->key());
  return score::AliasNames(keys, score::kDefaultAlias).Find(name);
}

// The route `request` sets on alias `key`, as the registry records it:
// the next revision after the one recorded (compare-and-set on
// expected_route_revision when given; revision 0 without one: the next),
// changed by `set_by` (whom the server found calling, never what the route
// claims) at `now`. A scoring replica undoing a change it published (a
// later step failed) publishes the old route again as a new revision, so
// replicas that took the change take the undoing too.
absl::StatusOr<v1::Route> ModelRegistry::RouteToRecord(
    const v1::SetAliasRequest& request, const std::string& key,
    const std::string& set_by, absl::Time now) const {
  int64_t recorded = 0;  // The route revision the alias is at.
  auto current = store_->Get(kAliases, key);
  if (current.ok()) {
    v1::AliasRecord c;
    if (!c.ParseFromString(*current))
      return absl::DataLossError(StrCat("alias '", key, "' is unreadable"));
    recorded = c.route().revision();
    if (request.has_expected_route_revision() && c.has_route() &&
        recorded != request.expected_route_revision()) {
      return absl::AbortedError(
          StrCat("alias '", key, "' is at route revision ", recorded, ", not ",
                 request.expected_route_revision(),
                 ": it was changed meanwhile (by ", c.set_by(), "); retry"));
    }
  } else if (!absl::IsNotFound(current.status())) {
    return current.status();
  }
  // A record without a route takes the revision the caller expects.
  const bool expected = request.has_expected_route_revision();
  const int64_t base = expected ? request.expected_route_revision() : recorded;
  v1::Route route = request.route();
  route.set_alias(key);
  if (route.revision() == 0 && !expected) route.set_revision(base + 1);
  if (route.revision() != base + 1) {
    return absl::InvalidArgumentError(
        StrCat("route.revision: ", route.revision(), " does not follow ", base,
               " (alias '", key, "'): revisions number changes in order"));
  }
  route.set_updated_by(set_by);
  *route.mutable_updated_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  return route;
}

absl::StatusOr<v1::AliasRecord> ModelRegistry::SetAlias(
    const v1::SetAliasRequest& request) {
  const bool unset = request.has_route() && request.route().targets().empty();
  if (request.model_version().empty() && !unset) {
    return absl::InvalidArgumentError("model_version: required");
  }
  // A route may mix models (an A/B test across them) under its key; an
  // alias set by hand points to a version of its own model.
  const bool any_model =
      request.has_route() && score::IsQualifiedAlias(request.alias());
  auto key = score::QualifiedAlias(
      any_model ? "" : score::ModelNameOf(request.model_version()),
      request.alias());
  if (!key.ok()) return key.status();
  if (request.has_route() && !unset &&
      score::PrimaryOf(request.route()) != request.model_version()) {
    return absl::InvalidArgumentError(
        StrCat("model_version: '", request.model_version(),
               "' is not the route's primary ('",
               score::PrimaryOf(request.route()), "')"));
  }
  std::lock_guard lock(mu_);
  absl::Time now = absl::Now();
  v1::AliasRecord r;
  r.set_alias(*key);
  r.set_model_version(request.model_version());
  r.set_set_by(request.set_by().empty() ? "user:unknown" : request.set_by());
  if (request.has_route()) {
    auto route = RouteToRecord(request, *key, r.set_by(), now);
    if (!route.ok()) return route.status();
    *r.mutable_route() = *std::move(route);
  }
  *r.mutable_set_at() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(now));
  storage::WriteBatch b;
  b.Put(kAliases, r.alias(), r.SerializeAsString());
  b.Put(kAliasLog, AliasLogKey(r.alias(), absl::ToUnixMicros(now)),
        r.SerializeAsString());
  if (!r.set_by().starts_with("run:") && !r.model_version().empty()) {
    // Outside a run (an operator, the monitor's rollback): the change is an
    // execution of its own in the lineage, downstream of the model.
    lineage_->RecordAliasChange(r, &b);
  }
  if (auto s = store_->Write(b, {.sync = true}); !s.ok()) return s;
  return r;
}

absl::StatusOr<v1::AliasRecord> ModelRegistry::GetAlias(const std::string& name,
                                                        absl::Time at) const {
  auto key = Find(name);
  if (!key.ok()) return key.status();
  const std::string& alias = *key;
  if (at == absl::InfiniteFuture()) {
    auto raw = store_->Get(kAliases, alias);
    if (!raw.ok()) {
      return absl::NotFoundError(StrCat("alias '", alias, "' is not set"));
    }
    v1::AliasRecord r;
    r.ParseFromString(*raw);
    return r;
  }
  auto history = AliasHistory(alias);
  if (!history.ok()) return history.status();
  const v1::AliasRecord* found = nullptr;
  for (const auto& r : *history) {
    if (TimeUtil::TimestampToMicroseconds(r.set_at()) <=
        absl::ToUnixMicros(at)) {
      found = &r;
    }
  }
  if (found == nullptr) {
    return absl::NotFoundError(
        StrCat("alias '", alias, "' was not set at ", absl::FormatTime(at)));
  }
  return *found;
}

absl::StatusOr<std::vector<v1::AliasRecord>> ModelRegistry::ListAliases()
    const {
  std::vector<v1::AliasRecord> out;
  for (auto it = store_->Scan(kAliases, ""); it->Valid(); it->Next()) {
    v1::AliasRecord r;
    r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<v1::AliasRecord>> ModelRegistry::AliasHistory(
    const std::string& name) const {
  auto key = Find(name);
  if (!key.ok()) return key.status();
  const std::string& alias = *key;
  std::vector<v1::AliasRecord> out;
  std::string prefix = alias;
  prefix.push_back('\0');
  for (auto it = store_->Scan(kAliasLog, prefix); it->Valid(); it->Next()) {
    v1::AliasRecord r;
    r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
    out.push_back(std::move(r));
  }
  if (out.empty())
    return absl::NotFoundError(StrCat("alias '", alias, "' was never set"));
  return out;
}

}  // namespace mlpipe::orchestrator
