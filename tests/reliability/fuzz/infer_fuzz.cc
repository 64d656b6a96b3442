// The KServe v2 tensor decoder (RowsFromInfer, services/score): a serialized
// inference.ModelInferRequest as ModelInfer receives it. Claimed shapes must
// be checked against the row limit and the values sent before rows are
// allocated.
#include "services/score/inference_service.h"
#include "tests/reliability/fuzz/fuzz_target.h"

using mlpipe::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  constexpr size_t kMaxRows = 10000;  // --score_max_rows' default.
  std::vector<mlpipe::serving::RawRow> rows;
  auto s = mlpipe::score::RowsFromInfer(request, kMaxRows, &rows);
  if (!s.ok()) {
    Check(absl::IsInvalidArgument(s), "not INVALID_ARGUMENT: " + s.ToString());
    return 0;
  }
  Check(rows.size() <= kMaxRows, "more rows than the limit");
  Check(rows.size() == static_cast<size_t>(request.inputs(0).shape(0)) ||
            rows.empty(),
        "rows do not match the claimed shape");
  return 0;
}
