#include "clients/dataset_versions.h"

#include <algorithm>
#include <set>

namespace mlpipe::ingest {

const v1::DatasetVersion* FindVersion(const v1::Dataset& dataset,
                                      int64_t version) {
  if (dataset.versions().empty()) return nullptr;
  if (version == 0) return &dataset.versions(dataset.versions_size() - 1);
  for (const auto& v : dataset.versions())
    if (v.version() == version) return &v;
  return nullptr;
}

std::vector<std::string> VersionBatches(const v1::Dataset& dataset,
                                        const v1::DatasetVersion& version) {
  if (version.batch_ids_size() > 0 || !version.change().empty())
    return {version.batch_ids().begin(), version.batch_ids().end()};
  std::vector<std::string> out;  // Stored before versions had lists.
  for (const auto& v : dataset.versions()) {
    if (v.version() > version.version()) break;
    if (!v.batch_id().empty()) out.push_back(v.batch_id());
  }
  return out;
}

std::vector<std::string> AllBatches(const v1::Dataset& dataset) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& id) {
    if (!id.empty() && seen.insert(id).second) out.push_back(id);
  };
  for (const auto& v : dataset.versions()) {
    add(v.batch_id());
    for (const auto& id : v.batch_ids()) add(id);
  }
  return out;
}

std::optional<std::vector<std::string>> AddedBatches(
    const v1::Dataset& dataset, const v1::DatasetVersion& from,
    const v1::DatasetVersion& to) {
  const auto before = VersionBatches(dataset, from);
  const auto after = VersionBatches(dataset, to);
  if (after.size() < before.size() ||
      !std::equal(before.begin(), before.end(), after.begin()))
    return std::nullopt;
  return std::vector<std::string>(after.begin() + before.size(), after.end());
}

}  // namespace mlpipe::ingest
