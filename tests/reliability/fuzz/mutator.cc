#include "tests/reliability/fuzz/mutator.h"

#include <algorithm>
#include <string_view>

namespace mlpipe::fuzz {
namespace {

// Byte strings that decoders get wrong: extremes of integers in both byte
// orders, varints that overflow 32 and 64 bits, and the punctuation of the
// text formats.
const std::vector<std::string_view>& Interesting() {
  using namespace std::string_view_literals;
  static const auto* values = new std::vector<std::string_view>{
      "\x00"sv,
      "\xff"sv,
      "\x7f"sv,
      "\x80"sv,
      "\xff\xff\xff\xff"sv,
      "\xff\xff\xff\x7f"sv,
      "\x00\x00\x00\x80"sv,
      "\xff\xff\xff\xff\xff\xff\xff\xff"sv,
      "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"sv,  // 2^64 - 1 as a varint.
      "\x80\x80\x80\x80\x08"sv,                      // 2^31 as a varint.
      "\xff\xff\xff\xff\x0f"sv,                      // 2^32 - 1 as a varint.
      "\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"sv,  // Too long.
      "-1"sv,
      "9223372036854775808"sv,
      "1e309"sv,
      "-0"sv,
      "NaN"sv,
      "\"\""sv,
      "\""sv,
      "\r\n"sv,
      "\n"sv,
      ","sv,
      "{"sv,
      "}"sv,
      "["sv,
      "]"sv,
      ": "sv,
      "\\u0000"sv,
      "\\ud800"sv,
      "\xef\xbb\xbf"sv,  // A byte-order mark.
      "\xc3\x28"sv,      // Invalid UTF-8.
      "&a *a"sv,         // A YAML anchor and alias.
  };
  return *values;
}

// The varint at s[pos], or false when none ends inside s.
bool ReadVarint(const std::string& s, size_t pos, uint64_t* v, size_t* len) {
  *v = 0;
  for (size_t i = 0; i < 10 && pos + i < s.size(); ++i) {
    const auto b = static_cast<uint8_t>(s[pos + i]);
    *v |= uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) {
      *len = i + 1;
      return true;
    }
  }
  return false;
}

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

}  // namespace

Mutator::Mutator(uint64_t seed, std::vector<std::string> corpus,
                 size_t max_size)
    : rng_(seed), corpus_(std::move(corpus)), max_size_(max_size) {}

std::string Mutator::Next() {
  // Half the time the previous output goes on mutating: several
  // mutations deep, where one flip from a valid input rarely reaches.
  std::string s = (rng_() % 2 == 0 || last_.empty())
                      ? corpus_[Below(corpus_.size())]
                      : last_;
  for (size_t n = 1 + Below(8); n > 0; --n) MutateOnce(&s);
  if (s.size() > max_size_) s.resize(max_size_);
  last_ = s;
  return s;
}

void Mutator::MutateOnce(std::string* s) {
  switch (Below(9)) {
    case 0:
      return FlipBit(s);
    case 1:
      return SetByte(s);
    case 2:
      return InsertBytes(s);
    case 3:
      return EraseBytes(s);
    case 4:
      return CopyRange(s);
    case 5:
      return Splice(s);
    case 6:
    case 7:
      return InsertInteresting(s);
    default:
      return RewriteLength(s);
  }
}

void Mutator::FlipBit(std::string* s) {
  if (s->empty()) return InsertBytes(s);
  (*s)[Below(s->size())] ^= static_cast<char>(1 << Below(8));
}

void Mutator::SetByte(std::string* s) {
  if (s->empty()) return InsertBytes(s);
  (*s)[Below(s->size())] = static_cast<char>(rng_());
}

void Mutator::InsertBytes(std::string* s) {
  std::string bytes(1 + Below(8), '\0');
  for (char& c : bytes) c = static_cast<char>(rng_());
  s->insert(Below(s->size() + 1), bytes);
}

void Mutator::EraseBytes(std::string* s) {
  if (s->empty()) return;
  const size_t at = Below(s->size());
  s->erase(at, 1 + Below(std::min<size_t>(s->size() - at, 64)));
}

void Mutator::CopyRange(std::string* s) {
  if (s->empty()) return;
  const size_t from = Below(s->size());
  const std::string part =
      s->substr(from, 1 + Below(std::min<size_t>(s->size() - from, 256)));
  s->insert(Below(s->size() + 1), part);
}

void Mutator::Splice(std::string* s) {
  const std::string& other = corpus_[Below(corpus_.size())];
  s->resize(Below(s->size() + 1));
  s->append(other, Below(other.size() + 1));
}

void Mutator::InsertInteresting(std::string* s) {
  const auto& values = Interesting();
  const std::string_view v = values[Below(values.size())];
  const size_t at = Below(s->size() + 1);
  if (rng_() % 2 == 0) {
    s->insert(at, v);
  } else {
    s->replace(at, std::min(v.size(), s->size() - at), v);
  }
}

// A length-delimited protobuf field (tag with wire type 2, then a varint
// length) made to claim a little more, a little less, or far more than
// follows.
void Mutator::RewriteLength(std::string* s) {
  for (int tries = 0; tries < 16 && s->size() > 1; ++tries) {
    const size_t tag = Below(s->size() - 1);
    uint64_t len = 0;
    size_t width = 0;
    if (((*s)[tag] & 7) != 2 || !ReadVarint(*s, tag + 1, &len, &width))
      continue;
    static constexpr uint64_t kLies[] = {
        0, 1, 0x7fffffff, 0xffffffff, uint64_t{1} << 40, ~uint64_t{0}};
    const uint64_t lie =
        rng_() % 2 == 0 ? len + Below(3) - 1 : kLies[Below(std::size(kLies))];
    s->replace(tag + 1, width, Varint(lie));
    return;
  }
  InsertInteresting(s);
}

}  // namespace mlpipe::fuzz
