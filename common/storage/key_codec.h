// Order-preserving key encoding: fixed-width big-endian integers, so that
// byte order equals numeric order in RocksDB's default comparator.
#ifndef MLPIPE_COMMON_STORAGE_KEY_CODEC_H_
#define MLPIPE_COMMON_STORAGE_KEY_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace mlpipe::storage {

inline void AppendU32(std::string* out, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out->append(b, 4);
}

inline void AppendU64(std::string* out, uint64_t v) {
  AppendU32(out, static_cast<uint32_t>(v >> 32));
  AppendU32(out, static_cast<uint32_t>(v));
}

// REQUIRES: in.size() >= 4.
inline uint32_t DecodeU32(std::string_view in) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// REQUIRES: in.size() >= 8.
inline uint64_t DecodeU64(std::string_view in) {
  return (uint64_t{DecodeU32(in)} << 32) | DecodeU32(in.substr(4));
}

// The smallest key greater than every key starting with `prefix`; empty when
// there is none (prefix of all 0xff bytes).
inline std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(end.back());
    if (c != 0xff) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return end;
}

}  // namespace mlpipe::storage

#endif  // MLPIPE_COMMON_STORAGE_KEY_CODEC_H_
