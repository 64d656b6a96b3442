#include "services/orchestrator/metadata_store.h"

#include <deque>
#include <set>

#include "common/util/strings.h"
#include "google/protobuf/util/time_util.h"

namespace mlpipe::orchestrator {
namespace {

using google::protobuf::util::TimeUtil;

constexpr char kArtifacts[] = "artifacts";
constexpr char kExecutions[] = "executions";
constexpr char kLineage[] = "lineage";

std::string Edge(char kind, std::string_view a, std::string_view b) {
  return StrCat(std::string_view(&kind, 1), "|", a, "|", b);
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

}  // namespace

void MetadataStore::AddColumnFamilies(storage::Options* options) {
  for (const char* cf : {kArtifacts, kExecutions, kLineage}) {
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

void MetadataStore::RecordAliasChange(const v1::AliasRecord& record,
                                      storage::WriteBatch* batch) const {
  const std::string exec =
      StrCat("alias:", record.alias(), "@",
             TimeUtil::TimestampToMicroseconds(record.set_at()));
  v1::LineageNode node;
  node.set_id(exec);
  node.set_kind("execution");
  node.set_type("set_alias");
  auto& props = *node.mutable_properties();
  props["alias"] = record.alias();
  props["model_version"] = record.model_version();
  props["set_by"] = record.set_by();
  if (!record.route().reason().empty())
    props["reason"] = record.route().reason();  // A rollout's analysis.
  batch->Put(kExecutions, exec, node.SerializeAsString());
  const std::string model = StrCat("model:", record.model_version());
  batch->Put(kLineage, Edge('c', model, exec), "");
  batch->Put(kLineage, Edge('i', exec, model), "");
}

}  // namespace mlpipe::orchestrator
