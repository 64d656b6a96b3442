#include "services/orchestrator/metadata_store.h"

#include <deque>
#include <set>

#include "absl/time/clock.h"
#include "common/storage/key_codec.h"
#include "common/util/ids.h"
#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kArtifacts[] = "artifacts";
constexpr char kExecutions[] = "executions";
constexpr char kLineage[] = "lineage";
constexpr char kAliases[] = "aliases";
constexpr char kAliasLog[] = "alias_log";

std::string Edge(char kind, std::string_view a, std::string_view b) {
  return StrCat(std::string(1, kind), "|", a, "|", b);
}

// The ids at the far end of "<kind>|<id>|..." keys.
std::vector<std::string> Neighbours(const storage::Store* store, char kind,
                                    const std::string& id) {
  std::vector<std::string> out;
  std::string prefix = StrCat(std::string(1, kind), "|", id, "|");
  for (auto it = store->Scan(kLineage, prefix); it->Valid(); it->Next()) {
    out.emplace_back(it->key().substr(prefix.size()));
  }
  return out;
}

std::string AliasLogKey(const std::string& alias, int64_t micros) {
  std::string k = alias;
  k.push_back('\0');
  storage::AppendU64(&k, static_cast<uint64_t>(micros));
  return k;
}

}  // namespace

void MetadataStore::AddColumnFamilies(storage::Options* options) {
  for (const char* cf :
       {kArtifacts, kExecutions, kLineage, kAliases, kAliasLog}) {
    options->column_families.push_back({.name = cf});
  }
}

void MetadataStore::RecordExecution(const std::string& run_id,
                                    const v1::StepExecution& step,
                                    const std::vector<std::string>& inputs,
                                    storage::WriteBatch* batch) const {
  std::string exec = StrCat(run_id, "/", step.name());
  v1::LineageNode node;
  node.set_id(exec);
  node.set_kind("execution");
  node.set_type(step.type());
  (*node.mutable_properties())["state"] =
      v1::StepState::State_Name(step.state());
  (*node.mutable_properties())["run"] = run_id;
  batch->Put(kExecutions, exec, node.SerializeAsString());
  for (const auto& in : inputs) {
    batch->Put(kLineage, Edge('c', in, exec), "");
    batch->Put(kLineage, Edge('i', exec, in), "");
  }
  for (const auto& [name, artifact] : step.outputs()) {
    // An artifact keeps the record of its first producer. A CACHED step's
    // outputs were recorded by the execution that made them: no look-up.
    if (step.state() != v1::StepState::CACHED &&
        !store_->Get(kArtifacts, artifact.id()).ok()) {
      batch->Put(kArtifacts, artifact.id(), artifact.SerializeAsString());
    }
    batch->Put(kLineage, Edge('p', exec, artifact.id()), "");
    batch->Put(kLineage, Edge('o', artifact.id(), exec), "");
  }
}

absl::StatusOr<v1::GetLineageResponse> MetadataStore::GetLineage(
    const std::string& id, int depth) const {
  if (depth <= 0) depth = 10;
  auto is_artifact = [&](const std::string& x) {
    return store_->Get(kArtifacts, x).ok();
  };
  auto is_execution = [&](const std::string& x) {
    return store_->Get(kExecutions, x).ok();
  };
  if (!is_artifact(id) && !is_execution(id)) {
    return absl::NotFoundError(StrCat("no artifact or execution '", id, "'"));
  }
  v1::GetLineageResponse out;
  std::set<std::string> seen_nodes;
  std::set<std::pair<std::string, std::string>> seen_edges;
  auto add_node = [&](const std::string& x) {
    if (!seen_nodes.insert(x).second) return;
    auto* n = out.add_nodes();
    if (auto a = store_->Get(kArtifacts, x); a.ok()) {
      v1::Artifact art;
      art.ParseFromString(*a);
      n->set_id(x);
      n->set_kind("artifact");
      n->set_type(art.type());
      *n->mutable_properties() = art.properties();
    } else if (auto e = store_->Get(kExecutions, x); e.ok()) {
      n->ParseFromString(*e);
    } else {
      n->set_id(x);
      n->set_kind("unknown");
    }
  };
  auto add_edge = [&](const std::string& from, const std::string& to) {
    if (seen_edges.insert({from, to}).second) {
      auto* e = out.add_edges();
      e->set_from(from);
      e->set_to(to);
    }
  };
  // Walks one direction: upstream follows 'o' (artifact -> producer) and 'i'
  // (execution -> inputs); downstream follows 'c' and 'p'.
  for (bool up : {true, false}) {
    std::deque<std::pair<std::string, int>> queue{{id, 0}};
    std::set<std::string> visited{id};
    while (!queue.empty()) {
      auto [x, d] = queue.front();
      queue.pop_front();
      add_node(x);
      if (d >= depth) continue;
      bool artifact = is_artifact(x);
      char kind = up ? (artifact ? 'o' : 'i') : (artifact ? 'c' : 'p');
      for (const auto& y : Neighbours(store_, kind, x)) {
        if (up) {
          add_edge(y, x);
        } else {
          add_edge(x, y);
        }
        if (visited.insert(y).second) queue.push_back({y, d + 1});
      }
    }
  }
  return out;
}

absl::StatusOr<v1::AliasRecord> MetadataStore::SetAlias(
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
    const std::string exec =
        StrCat("alias:", r.alias(), "@", absl::ToUnixMicros(now));
    v1::LineageNode node;
    node.set_id(exec);
    node.set_kind("execution");
    node.set_type("set_alias");
    auto& props = *node.mutable_properties();
    props["alias"] = r.alias();
    props["model_version"] = r.model_version();
    props["set_by"] = r.set_by();
    b.Put(kExecutions, exec, node.SerializeAsString());
    const std::string model = StrCat("model:", r.model_version());
    b.Put(kLineage, Edge('c', model, exec), "");
    b.Put(kLineage, Edge('i', exec, model), "");
  }
  if (auto s = store_->Write(b, {.sync = true}); !s.ok()) return s;
  return r;
}

absl::StatusOr<v1::AliasRecord> MetadataStore::GetAlias(
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

absl::StatusOr<std::vector<v1::AliasRecord>> MetadataStore::ListAliases()
    const {
  std::vector<v1::AliasRecord> out;
  for (auto it = store_->Scan(kAliases, ""); it->Valid(); it->Next()) {
    v1::AliasRecord r;
    r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::vector<v1::AliasRecord>> MetadataStore::AliasHistory(
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
