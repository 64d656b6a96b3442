#include "clients/routes.h"

#include <algorithm>

namespace mlpipe::score {

std::string PrimaryOf(const v1::Route& route) {
  int best = -1;
  for (int i = 0; i < route.targets_size(); ++i) {
    if (best < 0 || route.targets(i).percent() > route.targets(best).percent())
      best = i;
  }
  return best < 0 ? "" : route.targets(best).model_version();
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

}  // namespace mlpipe::score
