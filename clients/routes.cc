#include "clients/routes.h"

namespace mlpipe::score {

std::string PrimaryOf(const v1::Route& route) {
  int best = -1;
  for (int i = 0; i < route.targets_size(); ++i) {
    if (best < 0 || route.targets(i).percent() > route.targets(best).percent())
      best = i;
  }
  return best < 0 ? "" : route.targets(best).model_version();
}

}  // namespace mlpipe::score
