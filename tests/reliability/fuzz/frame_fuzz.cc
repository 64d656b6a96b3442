// The Frame codec (common/table/frame_codec.h) on frames as they arrive in
// an upload or a read request: decoded to a table (whose claimed row count
// must be checked against the arrays sent before anything is allocated),
// filtered on the wire form, and what the codec encodes must decode again.
#include "common/table/frame_codec.h"
#include "tests/reliability/fuzz/fuzz_target.h"

using mlpipe::fuzz::Check;
namespace v1 = mlpipe::v1;
namespace table = mlpipe::table;

namespace {

// A few rows of the frame, as a filter by row would pick them.
void Filter(const v1::Frame& frame) {
  const int64_t n = frame.num_rows();
  if (n <= 0) return;
  std::vector<uint32_t> rows = {0};
  if (n > 2 && n <= UINT32_MAX)
    rows = {0, static_cast<uint32_t>(n / 2), static_cast<uint32_t>(n - 1)};
  v1::Frame out;
  (void)table::FilterFrame(frame, rows, &out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::Frame frame;
  if (!frame.ParseFromArray(data, static_cast<int>(size))) return 0;
  Filter(frame);
  auto decoded = table::TableFromFrame(std::move(frame));
  if (!decoded.ok()) return 0;
  for (const auto& c : decoded->columns) {
    Check(c.size() == decoded->num_rows, "a column's size is not the frame's");
  }
  v1::Frame again;
  table::TableToFrame(*decoded, &again);
  auto redecoded = table::TableFromFrame(std::move(again));
  Check(redecoded.ok(),
        "an encoded table does not decode: " + redecoded.status().ToString());
  Check(redecoded->num_rows == decoded->num_rows,
        "rows changed on re-encoding");
  return 0;
}
