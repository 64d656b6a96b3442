#include "services/ingest/row_hashes.h"

#include <cstring>

#include "common/util/hash.h"

namespace mlpipe::ingest {

void AddToRowHashes(const table::Column& c, std::vector<uint64_t>* rows) {
  const uint64_t seed = StableHash(c.name);
  constexpr uint64_t kMissing = 0x6a09e667f3bcc908ULL;
  auto& h = *rows;
  const size_t n = std::min(h.size(), c.size());
  for (size_t r = 0; r < n; ++r) {
    uint64_t v = kMissing;
    if (c.IsValid(r)) {
      switch (c.type) {
        case table::ColumnType::kNumeric:
          v = StableHash(c.numbers[r]);
          break;
        case table::ColumnType::kTimestamp:
          v = SplitMix64(static_cast<uint64_t>(c.timestamps[r]));
          break;
        case table::ColumnType::kCategorical:
        case table::ColumnType::kText:
          v = StableHash(c.strings[r]);
          break;
        default:
          break;
      }
    }
    h[r] += SplitMix64(seed ^ v);  // A sum: the columns' order does not count.
  }
}

std::string EncodeRowHashes(const std::vector<uint64_t>& sorted) {
  std::string out(sorted.size() * 8, '\0');
  for (size_t i = 0; i < sorted.size(); ++i) {
    for (int b = 0; b < 8; ++b)
      out[i * 8 + b] = static_cast<char>((sorted[i] >> (8 * b)) & 0xff);
  }
  return out;
}

std::vector<uint64_t> DecodeRowHashes(std::string_view bytes) {
  std::vector<uint64_t> out(bytes.size() / 8);
  for (size_t i = 0; i < out.size(); ++i) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b)
      v = (v << 8) | static_cast<uint8_t>(bytes[i * 8 + b]);
    out[i] = v;
  }
  return out;
}

int64_t CountRepeats(const std::vector<uint64_t>& sorted) {
  int64_t n = 0;
  for (size_t i = 1; i < sorted.size(); ++i) n += sorted[i] == sorted[i - 1];
  return n;
}

int64_t CountFoundIn(const std::vector<uint64_t>& sorted,
                     const std::vector<uint64_t>& existing) {
  int64_t n = 0;
  size_t j = 0;
  for (uint64_t h : sorted) {
    while (j < existing.size() && existing[j] < h) ++j;
    n += j < existing.size() && existing[j] == h;
  }
  return n;
}

}  // namespace mlpipe::ingest
