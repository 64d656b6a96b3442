#include "common/ml/ubjson.h"

#include <cstdint>

#include "common/util/strings.h"

namespace mlpipe::ml {
namespace {

// Bytes of a fixed-size value after its type marker; 0 for other markers.
size_t FixedSize(char marker) {
  switch (marker) {
    case 'i':
    case 'U':
    case 'C':
      return 1;
    case 'I':
      return 2;
    case 'l':
    case 'd':
      return 4;
    case 'L':
    case 'D':
      return 8;
    default:
      return 0;
  }
}

// Walks one value, recursing into containers.
class Walker {
 public:
  explicit Walker(std::string_view bytes) : bytes_(bytes) {}

  absl::Status Document() {
    if (auto s = Value(0); !s.ok()) return s;
    if (pos_ != bytes_.size()) return Bad("bytes after the value");
    return absl::OkStatus();
  }

 private:
  size_t Left() const { return bytes_.size() - pos_; }
  absl::Status Bad(std::string_view what) const {
    return absl::DataLossError(
        StrCat("UBJSON: ", what, " at byte ", pos_, " of ", bytes_.size()));
  }
  bool Peek(char c) const { return Left() > 0 && bytes_[pos_] == c; }
  bool Take(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }

  // An integer of type `marker` (i, U, I, l, L; big-endian) read as a
  // length or count: negative or more than is left is an error.
  absl::Status Length(size_t element_size, uint64_t* n) {
    if (Left() == 0) return Bad("missing length");
    const char marker = bytes_[pos_++];
    const size_t size = FixedSize(marker);
    if (size == 0 || marker == 'd' || marker == 'D' || marker == 'C')
      return Bad(StrCat("length of type '", std::string(1, marker), "'"));
    if (Left() < size) return Bad("truncated length");
    int64_t v = marker == 'U' ? static_cast<uint8_t>(bytes_[pos_])
                              : static_cast<int8_t>(bytes_[pos_]);
    for (size_t i = 1; i < size; ++i)
      v = v * 256 + static_cast<uint8_t>(bytes_[pos_ + i]);
    pos_ += size;
    if (v < 0 || static_cast<uint64_t>(v) > Left() / element_size) {
      return Bad(StrCat("a length of ", v, " (x ", element_size,
                        " bytes) with ", Left(), " bytes left"));
    }
    *n = static_cast<uint64_t>(v);
    return absl::OkStatus();
  }

  absl::Status String() {
    uint64_t n = 0;
    if (auto s = Length(1, &n); !s.ok()) return s;
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status Value(int depth) {
    if (depth > kMaxUbjsonDepth) return Bad("nested too deep");
    if (Left() == 0) return Bad("truncated value");
    const char marker = bytes_[pos_++];
    if (const size_t size = FixedSize(marker); size > 0) {
      if (Left() < size) return Bad("truncated number");
      pos_ += size;
      return absl::OkStatus();
    }
    switch (marker) {
      case 'Z':
      case 'N':
      case 'T':
      case 'F':
        return absl::OkStatus();
      case 'S':
        return String();
      case '[':
        return Array(depth + 1);
      case '{':
        return Object(depth + 1);
      default:
        --pos_;
        return Bad(StrCat("unknown marker (byte value ",
                          static_cast<int>(static_cast<uint8_t>(marker)), ")"));
    }
  }

  // After '[': typed ($type #count), counted (#count) or up to ']'.
  absl::Status Array(int depth) {
    uint64_t n = 0;
    if (Take('$')) {
      const size_t size = Left() > 0 ? FixedSize(bytes_[pos_++]) : 0;
      if (size == 0) return Bad("typed array of no fixed-size type");
      if (!Take('#')) return Bad("typed array without a count");
      if (auto s = Length(size, &n); !s.ok()) return s;
      pos_ += n * size;
      return absl::OkStatus();
    }
    if (Take('#')) {
      if (auto s = Length(1, &n); !s.ok()) return s;
      for (uint64_t i = 0; i < n; ++i) {
        if (auto s = Value(depth); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    while (!Take(']')) {
      if (auto s = Value(depth); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // After '{': keys (lengths without the 'S' marker) and values up to '}'.
  absl::Status Object(int depth) {
    while (!Take('}')) {
      if (auto s = String(); !s.ok()) return s;
      if (auto s = Value(depth); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  const std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace

absl::Status CheckUbjson(std::string_view bytes) {
  return Walker(bytes).Document();
}

}  // namespace mlpipe::ml
