// What callers of the scoring service and the registry read from a route.
#ifndef MLPIPE_CLIENTS_ROUTES_H_
#define MLPIPE_CLIENTS_ROUTES_H_

#include <string>

#include "mlpipe/v1/score_service.pb.h"

namespace mlpipe::score {

// The primary (largest share) version of a route; "" when it has none.
std::string PrimaryOf(const v1::Route& route);

}  // namespace mlpipe::score

#endif  // MLPIPE_CLIENTS_ROUTES_H_
