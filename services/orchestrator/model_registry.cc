#include "services/orchestrator/model_registry.h"

#include "absl/time/clock.h"
#include "common/storage/key_codec.h"
#include "common/util/ids.h"
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

absl::StatusOr<v1::AliasRecord> ModelRegistry::SetAlias(
    const v1::SetAliasRequest& request) {
  if (!IsValidName(request.alias())) {
    return absl::InvalidArgumentError(
        StrCat("alias: '", request.alias(), "' is not a valid name"));
  }
  const bool unset = request.has_route() && request.route().targets().empty();
  if (request.model_version().empty() && !unset) {
    return absl::InvalidArgumentError("model_version: required");
  }
  std::lock_guard lock(mu_);
  if (request.has_expected_route_revision()) {
    // Compare-and-set on the route (a record without one takes any).
    auto current = store_->Get(kAliases, request.alias());
    if (current.ok()) {
      v1::AliasRecord c;
      if (!c.ParseFromString(*current))
        return absl::DataLossError(
            StrCat("alias '", request.alias(), "' is unreadable"));
      if (c.has_route() &&
          c.route().revision() != request.expected_route_revision()) {
        return absl::AbortedError(StrCat(
            "alias '", request.alias(), "' is at route revision ",
            c.route().revision(), ", not ", request.expected_route_revision(),
            ": it was changed meanwhile (by ", c.set_by(), "); retry"));
      }
    } else if (!absl::IsNotFound(current.status())) {
      return current.status();
    }
  }
  v1::AliasRecord r;
  r.set_alias(request.alias());
  r.set_model_version(request.model_version());
  r.set_set_by(request.set_by().empty() ? "user:unknown" : request.set_by());
  if (request.has_route()) *r.mutable_route() = request.route();
  absl::Time now = absl::Now();
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

absl::StatusOr<v1::AliasRecord> ModelRegistry::GetAlias(
    const std::string& alias, absl::Time at) const {
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
    const std::string& alias) const {
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
