#include "common/table/utf8.h"

#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mlpipe::table {
namespace {

// Whether `text` has a byte >= 0x80 (8 bytes at a time).
bool HasHighByte(std::string_view text) {
  const char* p = text.data();
  size_t n = text.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    if (word & 0x8080808080808080ULL) return true;
  }
  for (; n > 0; ++p, --n)
    if (static_cast<unsigned char>(*p) & 0x80) return true;
  return false;
}

std::string Problem(std::string_view text, size_t at) {
  return absl::StrFormat(
      "not valid UTF-8 (byte 0x%02X at byte %d of the value)",
      static_cast<unsigned char>(text[at]), at + 1);
}

}  // namespace

size_t InvalidUtf8At(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // Bounds of the second byte.
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // No overlong forms.
      if (c == 0xED) hi = 0x9F;  // No surrogates.
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;  // At most U+10FFFF.
    } else {
      return i;
    }
    if (i + len > n || s[i + 1] < lo || s[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

void AppendLatin1AsUtf8(std::string_view in, std::string* out) {
  if (!HasHighByte(in)) {
    out->append(in);
    return;
  }
  out->reserve(out->size() + in.size() + in.size() / 8);
  for (char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out->push_back(ch);
    } else {
      out->push_back(static_cast<char>(0xC0 | (c >> 6)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
}

absl::Status CheckUtf8(const TextRows& rows) {
  for (const auto& name : rows.names()) {
    if (size_t at = InvalidUtf8At(name); at != std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("header: a column name is ", Problem(name, at)));
    }
  }
  if (!HasHighByte(rows.arena())) return absl::OkStatus();
  for (size_t col = 0; col < rows.num_columns(); ++col) {
    for (size_t r = 0; r < rows.num_rows(); ++r) {
      std::string_view cell = rows.cell(r, col);
      if (size_t at = InvalidUtf8At(cell); at != std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", rows.line(r), ", column '", rows.names()[col],
                         "': ", Problem(cell, at)));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::table
