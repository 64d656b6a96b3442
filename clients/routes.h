// What callers of the scoring service and the registry read from a route.
#ifndef MLPIPE_CLIENTS_ROUTES_H_
#define MLPIPE_CLIENTS_ROUTES_H_

#include <string>
#include <vector>

#include "mlpipe/v1/score_service.pb.h"

namespace mlpipe::score {

// The primary (largest share) version of a route; "" when it has none.
std::string PrimaryOf(const v1::Route& route);

// An alias's route history as it ended up, newest first, from the routes
// the registry recorded in the order they were set. A route set again with
// a revision not above the last one (a change undone because a later step
// failed, then redone) replaces the revisions it reverts, so every revision
// appears once and the first is the route served now.
std::vector<v1::Route> RouteHistory(std::vector<v1::Route> in_set_order);

}  // namespace mlpipe::score

#endif  // MLPIPE_CLIENTS_ROUTES_H_
