#include "clients/prepare_request.h"

#include "common/features/transform.h"
#include "common/util/strings.h"

namespace mlpipe::prep {

absl::Status CheckPrepareRequest(const v1::PrepareRequest& req) {
  if (req.dataset().empty())
    return absl::InvalidArgumentError("dataset: required");
  if (req.transforms().values().empty())
    return absl::InvalidArgumentError("transforms: at least one entry");
  auto specs = features::ParseTransformSpecs(req.transforms());
  if (!specs.ok()) return specs.status();
  if (req.has_select()) {
    const auto& method = req.select().method();
    if (method != "chi2" && method != "mutual_info")
      return absl::InvalidArgumentError(
          StrCat("select.method: '", method, "' is not chi2 or mutual_info"));
    if (req.select().k() < 1)
      return absl::InvalidArgumentError("select.k: must be >= 1");
    if (req.label().empty())
      return absl::InvalidArgumentError("label: required by select");
  }
  const auto& fit = req.fit_on();
  if (fit.row_begin() < 0 || fit.row_end() < 0 ||
      (fit.row_end() > 0 && fit.row_end() <= fit.row_begin()))
    return absl::InvalidArgumentError(
        "fit_on: rows must satisfy 0 <= row_begin < row_end");
  if (!fit.split().empty() && (fit.row_begin() > 0 || fit.row_end() > 0))
    return absl::InvalidArgumentError(
        "fit_on: give rows or a split part, not both");
  if (fit.split().empty() && !fit.part().empty())
    return absl::InvalidArgumentError("fit_on.part: needs fit_on.split");
  if (!req.event_timestamp().empty() && req.entity_key().empty())
    return absl::InvalidArgumentError(
        "event_timestamp: only meaningful with entity_key");
  return absl::OkStatus();
}

}  // namespace mlpipe::prep
