#include "services/ingest/row_hashes.h"

#include <algorithm>
#include <cstring>

#include "common/table/frame_codec.h"
#include "common/util/hash.h"

namespace mlpipe::ingest {

void AddToRowHashes(const v1::Column& c, std::vector<uint64_t>* rows) {
  // A row's hash is the sum over its columns of mix(seed(name) + value):
  // one SplitMix per cell; a string's hash once per dictionary entry.
  const uint64_t seed = StableHash(c.name());
  const uint64_t missing = SplitMix64(seed + 0x6a09e667f3bcc908ULL);
  auto& h = *rows;
  const size_t n = h.size();
  auto add = [&](auto value_of) {
    for (size_t r = 0; r < n; ++r)
      h[r] += table::ValidAt(c, r) ? value_of(r) : missing;
  };
  auto number = [&](double x) {
    if (x == 0) x = 0;  // -0.0 as 0.0.
    uint64_t bits;
    std::memcpy(&bits, &x, sizeof(bits));
    return SplitMix64(seed + bits);
  };
  auto timestamp = [&](uint64_t micros) {
    return SplitMix64(seed + 0x3c6ef372fe94f82bULL + micros);
  };
  if (c.type() == v1::NUMERIC && c.integers_size() >= static_cast<int>(n)) {
    add([&](size_t r) {
      return number(static_cast<double>(c.integers(static_cast<int>(r))));
    });
  } else if (c.type() == v1::NUMERIC && table::NumberCount(c, n) >= n) {
    add([&](size_t r) { return number(table::NumberAt(c, r)); });
  } else if (c.type() == v1::TIMESTAMP &&
             c.timestamp_deltas_size() >= static_cast<int>(n)) {
    uint64_t micros = 0;  // Deltas are 0 at missing rows.
    for (size_t r = 0; r < n; ++r) {
      micros += static_cast<uint64_t>(c.timestamp_deltas(static_cast<int>(r)));
      h[r] += table::ValidAt(c, r) ? timestamp(micros) : missing;
    }
  } else if (c.type() == v1::TIMESTAMP &&
             c.timestamps_size() >= static_cast<int>(n)) {
    add([&](size_t r) {
      return timestamp(
          static_cast<uint64_t>(c.timestamps(static_cast<int>(r))));
    });
  } else if (c.dictionary_size() > 0 && c.codes_size() >= static_cast<int>(n)) {
    std::vector<uint64_t> entry(c.dictionary_size());
    for (int d = 0; d < c.dictionary_size(); ++d)
      entry[d] = SplitMix64(seed + StableHash(c.dictionary(d)));
    add([&](size_t r) {
      const uint32_t code = c.codes(static_cast<int>(r));
      return code < entry.size() ? entry[code] : missing;
    });
  } else if (c.strings_size() >= static_cast<int>(n)) {
    add([&](size_t r) {
      return SplitMix64(seed + StableHash(c.strings(static_cast<int>(r))));
    });
  } else {  // Every value missing (a column of no type yet).
    for (size_t r = 0; r < n; ++r) h[r] += missing;
  }
}

std::string EncodeRowHashes(const std::vector<uint64_t>& hashes) {
  std::string out(hashes.size() * 8, '\0');
  for (size_t i = 0; i < hashes.size(); ++i) {
    for (int b = 0; b < 8; ++b)
      out[i * 8 + b] = static_cast<char>((hashes[i] >> (8 * b)) & 0xff);
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

namespace {

// Repeats in `part` (hashes), with an open-addressing table indexed by the
// hash's low bits (hashes are uniform: no second hash), at most half full.
// 0 marks an empty slot, so a hash of 0 counts as 1 (a 2^-63 chance of a
// false repeat).
int64_t CountInPart(const uint64_t* part, size_t n,
                    std::vector<uint64_t>& table) {
  size_t size = 16;
  while (size < 2 * n) size *= 2;
  table.assign(size, 0);
  const size_t mask = size - 1;
  int64_t repeats = 0;
  for (size_t k = 0; k < n; ++k) {
    const uint64_t h = part[k] | (part[k] == 0);
    size_t i = h & mask;
    while (table[i] != 0 && table[i] != h) i = (i + 1) & mask;
    repeats += table[i] == h;
    table[i] = h;
  }
  return repeats;
}

}  // namespace

int64_t RepeatCounter::Count() {
  int64_t repeats = 0;
  std::vector<uint64_t> table;
  for (const auto& part : parts_)
    repeats += CountInPart(part.data(), part.size(), table);
  return repeats;
}

}  // namespace mlpipe::ingest
