#include "common/table/csv.h"

#include <algorithm>
#include <cstring>
#include <unordered_set>

#include "common/util/strings.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace mlpipe::table {

namespace {

// The first of `delim`, '\n' and '\r' in [p, end), or end.
inline const char* FindFieldEnd(const char* p, const char* end, char delim) {
#if defined(__SSE2__)
  const __m128i d = _mm_set1_epi8(delim);
  const __m128i lf = _mm_set1_epi8('\n');
  const __m128i cr = _mm_set1_epi8('\r');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, d), _mm_cmpeq_epi8(v, lf)),
                     _mm_cmpeq_epi8(v, cr));
    if (const unsigned bits = _mm_movemask_epi8(hit); bits != 0)
      return p + __builtin_ctz(bits);
    p += 16;
  }
#endif
  while (p < end && *p != delim && *p != '\n' && *p != '\r') ++p;
  return p;
}

absl::Status AfterQuoteError(char c, int64_t line) {
  const std::string shown = c == '\t' ? "\\t" : std::string(1, c);
  const bool delimiter_like = c == ';' || c == '\t' || c == '|';
  return absl::InvalidArgumentError(StrCat(
      "line ", line, ": unexpected character '", shown,
      "' after the closing quote of a field (quotes inside a quoted field "
      "must be doubled",
      delimiter_like ? StrCat("; or is the delimiter '", shown, "'?") : "",
      ")"));
}

}  // namespace

CsvParser::CsvParser(CsvOptions options, TextRowsSink sink)
    : options_(options), sink_(std::move(sink)) {}

void CsvParser::EndOtherField(size_t length) {
  if (!header_done_) {
    first_record_.push_back(
        {static_cast<uint32_t>(field_start_), static_cast<uint32_t>(length)});
  }  // Else an extra field: counted, dropped.
}

// The first record names the columns (or, without a header, is row 0).
absl::Status CsvParser::TakeColumns() {
  header_done_ = true;
  const size_t n = first_record_.size();
  std::vector<std::string> names(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& c = first_record_[i];
    names[i] = options_.header ? rows_.arena().substr(c.offset, c.length)
                               : StrCat("c", i);
  }
  std::unordered_set<std::string> seen;
  for (size_t i = 0; i < n; ++i) {
    if (names[i].empty()) names[i] = StrCat("column_", i + 1);
    if (!seen.insert(names[i]).second) {
      return absl::InvalidArgumentError(StrCat(
          "line ", record_line_, ": duplicate column name '", names[i], "'"));
    }
    rows_.AddColumn(names[i]);
  }
  if (!options_.header) {
    for (size_t i = 0; i < n; ++i)
      rows_.AddCell(i, first_record_[i].offset, first_record_[i].length);
    rows_.EndFullRow(record_line_);
    ++rows_read_;
  }
  first_record_.clear();
  return absl::OkStatus();
}

absl::Status CsvParser::EndRecord(size_t* pos) {
  const size_t fields = field_index_;
  field_index_ = 0;
  if (!header_done_) {
    if (auto s = TakeColumns(); !s.ok()) return s;
  } else if (fields != rows_.num_columns()) {
    return absl::InvalidArgumentError(StrCat("line ", record_line_,
                                             ": expected ", rows_.num_columns(),
                                             " fields, found ", fields));
  } else {
    rows_.EndFullRow(record_line_);
    ++rows_read_;
  }
  if (rows_.num_rows() < options_.block.rows && *pos < options_.block.bytes)
    return absl::OkStatus();
  return HandOver(pos);
}

absl::Status CsvParser::HandOver(size_t* pos) {
  std::string& arena = rows_.arena();
  tail_.assign(arena, *pos);
  absl::Status s = rows_.num_rows() > 0 ? sink_(rows_) : absl::OkStatus();
  rows_.ClearRows();
  rows_.arena().assign(tail_);
  *pos = 0;
  return s;
}

absl::Status CsvParser::Feed(std::string_view data) {
  if (!error_.ok()) return error_;
  if (data.empty()) return absl::OkStatus();
  saw_input_ = true;
  const size_t pos = rows_.arena().size();
  rows_.arena().append(data);
  error_ = Scan(pos);
  return error_;
}

absl::Status CsvParser::Scan(size_t pos) {
  const char delim = options_.delimiter;
  while (pos < rows_.arena().size()) {
    std::string& arena = rows_.arena();
    char* const base = arena.data();
    const char* const end = base + arena.size();
    const char* p = base + pos;
    switch (state_) {
      case State::kRecordStart:
        if (*p == '\n') {  // Blank line: skipped.
          ++line_;
          ++pos;
          continue;
        }
        if (*p == '\r') {
          ++pos;
          state_ = State::kAfterCR;
          continue;
        }
        record_line_ = line_;
        record_start_ = pos;
        state_ = State::kFieldStart;
        [[fallthrough]];
      case State::kFieldStart:
        if (*p == '"') {
          quote_line_ = line_;
          state_ = State::kQuoted;
          field_start_ = write_ = ++pos;
          continue;
        }
        field_start_ = pos;
        state_ = State::kUnquoted;
        [[fallthrough]];
      case State::kUnquoted: {
        // The fields of a record up to its line end, in one go while they
        // are not quoted.
        const char* q = FindFieldEnd(p, end, delim);
        while (q != end && *q == delim && q + 1 != end && q[1] != '"') {
          EndField(q - base - field_start_);
          field_start_ = q + 1 - base;
          q = FindFieldEnd(q + 1, end, delim);
        }
        pos = q - base;
        if (q == end) break;
        EndField(pos - field_start_);
        ++pos;
        if (*q == delim) {
          state_ = State::kFieldStart;
          continue;
        }
        state_ = *q == '\n' ? State::kRecordStart : State::kAfterCR;
        line_ += *q == '\n';
        if (auto s = EndRecord(&pos); !s.ok()) return s;
        continue;
      }
      case State::kQuoted: {
        const void* found = std::memchr(p, '"', end - p);
        const char* q = found ? static_cast<const char*>(found) : end;
        line_ += std::count(p, q, '\n');
        if (write_ != pos) std::memmove(base + write_, p, q - p);
        write_ += q - p;
        pos = q - base;
        if (q == end) break;
        ++pos;
        state_ = State::kQuoteInQuoted;
        continue;
      }
      case State::kQuoteInQuoted:
        if (*p == '"') {  // A doubled quote: one quote in the value.
          base[write_++] = '"';
          state_ = State::kQuoted;
          ++pos;
        } else if (*p == delim) {
          EndField(write_ - field_start_);
          state_ = State::kFieldStart;
          ++pos;
        } else if (*p == '\n' || *p == '\r') {
          EndField(write_ - field_start_);
          state_ = *p == '\n' ? State::kRecordStart : State::kAfterCR;
          line_ += *p == '\n';
          ++pos;
          if (auto s = EndRecord(&pos); !s.ok()) return s;
          continue;
        } else {
          return AfterQuoteError(*p, line_);
        }
        break;
      case State::kAfterCR:
        if (*p == '\n') ++pos;
        ++line_;
        state_ = State::kRecordStart;
        continue;
    }
    if (state_ != State::kRecordStart && state_ != State::kAfterCR &&
        pos - record_start_ > options_.max_record_bytes) {
      return absl::InvalidArgumentError(StrCat(
          "line ", record_line_, ": record longer than ",
          options_.max_record_bytes, " bytes (unterminated quoted field?)"));
    }
  }
  return absl::OkStatus();
}

absl::Status CsvParser::Finish() {
  if (!error_.ok()) return error_;
  size_t end = rows_.arena().size();
  switch (state_) {
    case State::kQuoted:
      error_ = absl::InvalidArgumentError(
          StrCat("line ", quote_line_,
                 ": quoted field is not closed at end of input"));
      return error_;
    case State::kFieldStart:
      field_start_ = end;
      [[fallthrough]];
    case State::kUnquoted:
      EndField(end - field_start_);
      if (auto st = EndRecord(&end); !st.ok()) return error_ = st;
      break;
    case State::kQuoteInQuoted:
      EndField(write_ - field_start_);
      if (auto st = EndRecord(&end); !st.ok()) return error_ = st;
      break;
    case State::kRecordStart:
    case State::kAfterCR:
      break;
  }
  if (!saw_input_ || !header_done_) {
    return error_ = absl::InvalidArgumentError("empty input: no header line");
  }
  state_ = State::kRecordStart;
  end = rows_.arena().size();
  return error_ = HandOver(&end);
}

void AppendCsvField(std::string_view text, char delimiter, std::string* out) {
  bool quote = text.empty() || text.front() == ' ' || text.back() == ' ';
  for (char c : text) {
    if (c == delimiter || c == '"' || c == '\n' || c == '\r') {
      quote = true;
      break;
    }
  }
  if (!quote) {
    out->append(text);
    return;
  }
  out->push_back('"');
  for (char c : text) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

}  // namespace mlpipe::table
