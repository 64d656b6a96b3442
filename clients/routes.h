// What callers of the scoring service and the registry read from a route,
// and how they name one.
//
// Aliases belong to a model name, as MLflow's do: alias `production` of
// model `credit` is "credit@production", the key of its route and of its
// registry entry. A caller names a route by that key, by the model name
// ("credit": its default-alias route, or its only one), or, as before
// aliases had models, by the bare alias ("production": the one model that
// has it). A version ("credit:3") is named by itself.
#ifndef MLPIPE_CLIENTS_ROUTES_H_
#define MLPIPE_CLIENTS_ROUTES_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "mlpipe/v1/score_service.pb.h"

namespace mlpipe::score {

// The alias a deploy, a baseline or a rollback means when it names none.
inline constexpr char kDefaultAlias[] = "production";

// The primary (largest share) version of a route; "" when it has none.
std::string PrimaryOf(const v1::Route& route);
// The route of `key` ("credit@production") among the scoring service's;
// null when it has none.
const v1::Route* FindRoute(const v1::ListDeploymentsResponse& deployments,
                           const std::string& key);

// An alias's route history as it ended up, newest first, from the routes
// the registry recorded in the order they were set. A route set again with
// a revision not above the last one (a change undone because a later step
// failed, then redone) replaces the revisions it reverts, so every revision
// appears once and the first is the route served now.
std::vector<v1::Route> RouteHistory(std::vector<v1::Route> in_set_order);

// "credit:2" -> "credit"; a name is its own model name.
std::string ModelNameOf(const std::string& version);
// True for "credit@production".
bool IsQualifiedAlias(const std::string& name);
// "credit@production" -> "production"; an unqualified alias is itself.
std::string AliasPart(const std::string& name);
// "credit@production" -> "credit"; "" for an unqualified alias.
std::string ModelPart(const std::string& name);
// `alias` of model `model` ("credit@production"); a qualified alias is
// returned as it is. INVALID_ARGUMENT when a part is not a valid name, or a
// qualified alias belongs to another model than `model` (when given).
absl::StatusOr<std::string> QualifiedAlias(const std::string& model,
                                           const std::string& alias);

// The names callers may use for a set of qualified aliases (see the top of
// this file); "" names the default alias like a bare alias.
class AliasNames {
 public:
  AliasNames() = default;
  AliasNames(const std::vector<std::string>& keys,
             const std::string& default_alias);

  // The key `name` stands for. NOT_FOUND when none; INVALID_ARGUMENT when
  // it is ambiguous (the message names the keys to choose from).
  absl::StatusOr<std::string> Find(const std::string& name) const;
  // The same without a copy or a message (the serving path): null when
  // Find would fail.
  const std::string* Lookup(const std::string& name) const;

 private:
  std::string default_alias_;
  // Name -> key; "" for an ambiguous name.
  std::map<std::string, std::string> names_;
  // Ambiguous name -> the keys it could mean.
  std::map<std::string, std::vector<std::string>> ambiguous_;
};

// The qualified keys a legacy (unqualified) alias's records go to, one per
// record in the order set, from the model version each named ("" for one
// that named none, e.g. an undeploy: it goes with the record before it, or
// after it when first). "" for records no record of the alias names a
// version in.
std::vector<std::string> MigratedAliasKeys(
    const std::string& alias, const std::vector<std::string>& versions);

}  // namespace mlpipe::score

#endif  // MLPIPE_CLIENTS_ROUTES_H_
