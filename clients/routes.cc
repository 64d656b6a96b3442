#include "clients/routes.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/util/ids.h"

namespace mlpipe::score {

std::string PrimaryOf(const v1::Route& route) {
  int best = -1;
  for (int i = 0; i < route.targets_size(); ++i) {
    if (best < 0 || route.targets(i).percent() > route.targets(best).percent())
      best = i;
  }
  return best < 0 ? "" : route.targets(best).model_version();
}

const v1::Route* FindRoute(const v1::ListDeploymentsResponse& deployments,
                           const std::string& key) {
  for (const auto& r : deployments.routes())
    if (r.alias() == key) return &r;
  return nullptr;
}

std::vector<v1::Route> RouteHistory(std::vector<v1::Route> in_set_order) {
  std::vector<v1::Route> out;
  for (auto& r : in_set_order) {
    while (!out.empty() && out.back().revision() >= r.revision())
      out.pop_back();
    out.push_back(std::move(r));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string ModelNameOf(const std::string& version) {
  return version.substr(0, version.find(':'));
}

bool IsQualifiedAlias(const std::string& name) {
  return name.find('@') != std::string::npos;
}

std::string AliasPart(const std::string& name) {
  const size_t at = name.find('@');
  return at == std::string::npos ? name : name.substr(at + 1);
}

std::string ModelPart(const std::string& name) {
  const size_t at = name.find('@');
  return at == std::string::npos ? "" : name.substr(0, at);
}

absl::StatusOr<std::string> QualifiedAlias(const std::string& model,
                                           const std::string& alias) {
  const std::string owner = IsQualifiedAlias(alias) ? ModelPart(alias) : model;
  const std::string name = AliasPart(alias);
  if (!IsValidName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("alias: '", alias, "' is not a valid name"));
  }
  if (!IsValidName(owner)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "alias: '", alias, "' needs a valid model name (MODEL@", name, ")"));
  }
  if (!model.empty() && owner != model) {
    return absl::InvalidArgumentError(
        absl::StrCat("alias: '", alias, "' is an alias of model '", owner,
                     "', not of '", model, "'"));
  }
  return absl::StrCat(owner, "@", name);
}

AliasNames::AliasNames(const std::vector<std::string>& keys,
                       const std::string& default_alias)
    : default_alias_(default_alias) {
  std::map<std::string, std::vector<std::string>> by_model, by_alias;
  for (const auto& k : keys) {
    names_[k] = k;
    by_model[ModelPart(k)].push_back(k);
    by_alias[AliasPart(k)].push_back(k);
  }
  auto add = [&](const std::string& name, std::vector<std::string> choices) {
    if (names_.contains(name)) return;  // A key, or a model name already.
    if (choices.size() == 1) {
      names_[name] = choices[0];
    } else {
      names_[name] = "";
      ambiguous_[name] = std::move(choices);
    }
  };
  for (auto& [model, ks] : by_model) {
    const std::string preferred = absl::StrCat(model, "@", default_alias);
    if (std::find(ks.begin(), ks.end(), preferred) != ks.end()) {
      names_[model] = preferred;
    } else {
      add(model, ks);
    }
  }
  for (auto& [alias, ks] : by_alias) add(alias, ks);
}

const std::string* AliasNames::Lookup(const std::string& name) const {
  auto it = names_.find(name.empty() ? default_alias_ : name);
  return it == names_.end() || it->second.empty() ? nullptr : &it->second;
}

absl::StatusOr<std::string> AliasNames::Find(const std::string& name) const {
  const std::string& n = name.empty() ? default_alias_ : name;
  auto it = names_.find(n);
  if (it == names_.end()) {
    return absl::NotFoundError(
        name.empty() ? absl::StrCat("no model has the default alias '", n, "'")
                     : absl::StrCat("no alias or model named '", n, "'"));
  }
  if (!it->second.empty()) return it->second;
  return absl::InvalidArgumentError(
      absl::StrCat("'", n, "' is ambiguous: name one of ",
                   absl::StrJoin(ambiguous_.at(n), ", "),
                   " (aliases belong to a model: MODEL@ALIAS)"));
}

std::vector<std::string> MigratedAliasKeys(
    const std::string& alias, const std::vector<std::string>& versions) {
  std::vector<std::string> out(versions.size());
  std::string model;
  for (size_t i = 0; i < versions.size(); ++i) {
    if (!versions[i].empty()) model = ModelNameOf(versions[i]);
    if (!model.empty()) out[i] = absl::StrCat(model, "@", alias);
  }
  // Records before the first that names a version go with it.
  for (size_t i = out.size(); i-- > 0;) {
    if (out[i].empty() && i + 1 < out.size()) out[i] = out[i + 1];
  }
  return out;
}

}  // namespace mlpipe::score
