#include "common/table/jsonl.h"

#include <cstring>

#include "common/table/typing.h"
#include "common/util/strings.h"

namespace mlpipe::table {
namespace {

// A cursor over one line of JSON.
class JsonCursor {
 public:
  explicit JsonCursor(std::string_view s) : s_(s) {}
  void SkipSpace() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' ||
                                s_[pos_] == '\r' || s_[pos_] == '\n')) {
      ++pos_;
    }
  }
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return AtEnd() ? '\0' : s_[pos_]; }
  bool Consume(char c) {
    SkipSpace();
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  bool ConsumeWord(std::string_view w) {
    if (s_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  // Appends the decoded string at the cursor (which is at '"') to `out`.
  bool String(std::string* out) {
    if (Peek() != '"') return false;
    ++pos_;
    while (pos_ < s_.size()) {
      size_t start = pos_;
      while (pos_ < s_.size() && s_[pos_] != '"' && s_[pos_] != '\\') ++pos_;
      out->append(s_.data() + start, pos_ - start);
      if (pos_ >= s_.size()) return false;
      if (s_[pos_++] == '"') return true;
      if (pos_ >= s_.size()) return false;
      char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo;
            if (!ConsumeWord("\\u") || !Hex4(&lo) || lo < 0xDC00 ||
                lo > 0xDFFF) {
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  // The raw text of a number at the cursor.
  std::string_view NumberText() {
    size_t start = pos_;
    while (pos_ < s_.size() &&
           std::strchr("+-0123456789.eE", s_[pos_]) != nullptr) {
      ++pos_;
    }
    return s_.substr(start, pos_ - start);
  }

 private:
  bool Hex4(uint32_t* out) {
    if (pos_ + 4 > s_.size()) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        return false;
    }
    *out = v;
    return true;
  }
  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

JsonLinesParser::JsonLinesParser(JsonLinesOptions options, TextRowsSink sink)
    : options_(options), sink_(std::move(sink)) {}

absl::Status JsonLinesParser::Feed(std::string_view data) {
  if (!error_.ok()) return error_;
  while (!data.empty()) {
    const void* nl = std::memchr(data.data(), '\n', data.size());
    if (nl == nullptr) {
      partial_.append(data);
      if (partial_.size() > options_.max_line_bytes) {
        return error_ = absl::InvalidArgumentError(
                   StrCat("line ", line_ + 1, ": longer than ",
                          options_.max_line_bytes, " bytes"));
      }
      return absl::OkStatus();
    }
    size_t len = static_cast<const char*>(nl) - data.data();
    absl::Status s;
    if (partial_.empty()) {
      s = ParseLine(data.substr(0, len));
    } else {
      partial_.append(data.substr(0, len));
      s = ParseLine(partial_);
      partial_.clear();
    }
    if (!s.ok()) return error_ = s;
    data.remove_prefix(len + 1);
  }
  return absl::OkStatus();
}

absl::Status JsonLinesParser::Finish() {
  if (!error_.ok()) return error_;
  if (!partial_.empty()) {
    std::string last = std::move(partial_);
    partial_.clear();
    if (auto s = ParseLine(last); !s.ok()) return error_ = s;
  }
  if (rows_read_ == 0) {
    return error_ = absl::InvalidArgumentError("empty input: no JSON objects");
  }
  return HandOverIfFull(rows_, options_.block, sink_, true);
}

absl::Status JsonLinesParser::ParseLine(std::string_view line) {
  ++line_;
  JsonCursor c(line);
  c.SkipSpace();
  if (c.AtEnd()) return absl::OkStatus();  // Blank line.
  auto err = [&](std::string_view what) {
    return absl::InvalidArgumentError(StrCat("line ", line_, ": ", what));
  };
  if (!c.Consume('{')) return err("expected a JSON object");
  std::string& arena = rows_.arena();
  std::string key;
  bool first = true;
  while (true) {
    c.SkipSpace();
    if (c.Peek() == '}' && first) {
      c.Consume('}');
      break;
    }
    key.clear();
    if (!c.String(&key)) return err("expected a field name in double quotes");
    if (!c.Consume(':')) return err(StrCat("field '", key, "': expected ':'"));
    auto [it, added] = columns_.try_emplace(key, rows_.num_columns());
    if (added) rows_.AddColumn(key);
    size_t col = it->second;
    if (rows_.cells_in_column(col) > rows_.num_rows()) {
      return err(StrCat("field '", key, "' appears twice"));
    }
    c.SkipSpace();
    uint32_t start = static_cast<uint32_t>(arena.size());
    char p = c.Peek();
    if (p == '"') {
      if (!c.String(&arena))
        return err(StrCat("field '", key, "': bad string"));
      rows_.EndCell(col, start);
    } else if (p == '-' || (p >= '0' && p <= '9')) {
      std::string_view num = c.NumberText();
      double v;
      if (!ParseNumber(num, &v)) {
        return err(StrCat("field '", key, "': bad number '", num, "'"));
      }
      arena.append(num);
      rows_.EndCell(col, start);
    } else if (c.ConsumeWord("true") || c.ConsumeWord("false")) {
      arena.append(p == 't' ? "true" : "false");
      rows_.EndCell(col, start);
    } else if (c.ConsumeWord("null")) {
      rows_.AddNullCell(col);
    } else if (p == '{' || p == '[') {
      return err(StrCat("field '", key,
                        "': nested objects and arrays are not supported"));
    } else {
      return err(StrCat("field '", key, "': expected a value"));
    }
    first = false;
    if (c.Consume(',')) continue;
    if (c.Consume('}')) break;
    return err(StrCat("after field '", key, "': expected ',' or '}'"));
  }
  c.SkipSpace();
  if (!c.AtEnd()) return err("text after the end of the object");
  rows_.EndRow(line_);
  ++rows_read_;
  return HandOverIfFull(rows_, options_.block, sink_, false);
}

}  // namespace mlpipe::table
