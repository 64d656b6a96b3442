#include "common/ml/ubjson.h"

#include <cstdint>
#include <cstring>

#include "common/util/strings.h"

namespace mlpipe::ml {
namespace {

using google::protobuf::Value;

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

// The big-endian fixed-size value of type `marker` at `p`, as a double
// (integers past 2^53 rounded).
double FixedValue(char marker, const char* p) {
  uint64_t bits = 0;
  const size_t size = FixedSize(marker);
  for (size_t i = 0; i < size; ++i)
    bits = bits << 8 | static_cast<uint8_t>(p[i]);
  switch (marker) {
    case 'i':
      return static_cast<int8_t>(bits);
    case 'I':
      return static_cast<int16_t>(bits);
    case 'l':
      return static_cast<int32_t>(bits);
    case 'L':
      return static_cast<double>(static_cast<int64_t>(bits));
    case 'd': {
      float f;
      const auto b = static_cast<uint32_t>(bits);
      std::memcpy(&f, &b, sizeof f);
      return f;
    }
    case 'D': {
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return d;
    }
    default:  // U, C
      return static_cast<double>(bits);
  }
}

// Reads one value, recursing into containers.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  absl::Status Document(Value* out) {
    if (auto s = Parse(0, out); !s.ok()) return s;
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
    const double v = FixedValue(marker, bytes_.data() + pos_);
    pos_ += size;
    if (v < 0 || v > static_cast<double>(Left() / element_size)) {
      return Bad(StrCat("a length of ", v, " (x ", element_size,
                        " bytes) with ", Left(), " bytes left"));
    }
    *n = static_cast<uint64_t>(v);
    return absl::OkStatus();
  }

  absl::Status String(std::string* out) {
    uint64_t n = 0;
    if (auto s = Length(1, &n); !s.ok()) return s;
    out->assign(bytes_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }

  absl::Status Parse(int depth, Value* out) {
    if (depth > kMaxUbjsonDepth) return Bad("nested too deep");
    if (Left() == 0) return Bad("truncated value");
    const char marker = bytes_[pos_++];
    if (const size_t size = FixedSize(marker); size > 0) {
      if (Left() < size) return Bad("truncated number");
      out->set_number_value(FixedValue(marker, bytes_.data() + pos_));
      pos_ += size;
      return absl::OkStatus();
    }
    switch (marker) {
      case 'Z':
      case 'N':
        out->set_null_value({});
        return absl::OkStatus();
      case 'T':
      case 'F':
        out->set_bool_value(marker == 'T');
        return absl::OkStatus();
      case 'S':
        return String(out->mutable_string_value());
      case '[':
        return Array(depth + 1, out->mutable_list_value());
      case '{':
        return Object(depth + 1, out->mutable_struct_value());
      default:
        --pos_;
        return Bad(StrCat("unknown marker (byte value ",
                          static_cast<int>(static_cast<uint8_t>(marker)), ")"));
    }
  }

  // After '[': typed ($type #count), counted (#count) or up to ']'.
  absl::Status Array(int depth, google::protobuf::ListValue* out) {
    uint64_t n = 0;
    if (Take('$')) {
      const char type = Left() > 0 ? bytes_[pos_++] : 0;
      const size_t size = FixedSize(type);
      if (size == 0) return Bad("typed array of no fixed-size type");
      if (!Take('#')) return Bad("typed array without a count");
      if (auto s = Length(size, &n); !s.ok()) return s;
      for (uint64_t i = 0; i < n; ++i) {
        out->add_values()->set_number_value(
            FixedValue(type, bytes_.data() + pos_ + i * size));
      }
      pos_ += n * size;
      return absl::OkStatus();
    }
    if (Take('#')) {
      if (auto s = Length(1, &n); !s.ok()) return s;
      for (uint64_t i = 0; i < n; ++i) {
        if (auto s = Parse(depth, out->add_values()); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    while (!Take(']')) {
      if (auto s = Parse(depth, out->add_values()); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // After '{': keys (lengths without the 'S' marker) and values up to '}'.
  absl::Status Object(int depth, google::protobuf::Struct* out) {
    std::string key;
    while (!Take('}')) {
      if (auto s = String(&key); !s.ok()) return s;
      // Which of two values a reader keeps is its own choice: neither.
      if (out->fields().contains(key))
        return Bad(StrCat("key \"", key.substr(0, 64), "\" given twice"));
      Value* value = &(*out->mutable_fields())[key];
      if (auto s = Parse(depth, value); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  const std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<google::protobuf::Value> ParseUbjson(std::string_view bytes) {
  Value out;
  if (auto s = Reader(bytes).Document(&out); !s.ok()) return s;
  return out;
}

}  // namespace mlpipe::ml
