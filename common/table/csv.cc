#include "common/table/csv.h"

#include <cstring>
#include <unordered_set>

#include "common/util/strings.h"

namespace mlpipe::table {

CsvParser::CsvParser(CsvOptions options, TextRowsSink sink)
    : options_(options), sink_(std::move(sink)), header_done_(false) {}

void CsvParser::EndField() {
  if (!header_done_) {
    header_fields_.emplace_back(rows_.arena().substr(field_start_));
    rows_.arena().resize(field_start_);
  } else if (field_index_ < rows_.num_columns()) {
    rows_.EndCell(field_index_, field_start_);
  } else {
    rows_.arena().resize(field_start_);  // Extra field: counted, dropped.
  }
  ++field_index_;
}

absl::Status CsvParser::EndRecord() {
  size_t fields = field_index_;
  field_index_ = 0;
  if (!header_done_) {
    header_done_ = true;
    std::vector<std::string> names;
    if (options_.header) {
      names = std::move(header_fields_);
    } else {
      names.resize(header_fields_.size());
      for (size_t i = 0; i < names.size(); ++i) names[i] = StrCat("c", i);
    }
    std::unordered_set<std::string> seen;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i].empty()) names[i] = StrCat("column_", i + 1);
      if (!seen.insert(names[i]).second) {
        return absl::InvalidArgumentError(StrCat(
            "line ", record_line_, ": duplicate column name '", names[i], "'"));
      }
      rows_.AddColumn(names[i]);
    }
    if (!options_.header) {
      // The first record was data: replay its fields as row 0.
      for (size_t i = 0; i < header_fields_.size(); ++i) {
        uint32_t start = static_cast<uint32_t>(rows_.arena().size());
        rows_.arena().append(header_fields_[i]);
        rows_.EndCell(i, start);
      }
      rows_.EndRow(record_line_);
      ++rows_read_;
    }
    header_fields_.clear();
    return MaybeHandOver(false);
  }
  if (fields != rows_.num_columns()) {
    return absl::InvalidArgumentError(StrCat("line ", record_line_,
                                             ": expected ", rows_.num_columns(),
                                             " fields, found ", fields));
  }
  rows_.EndRow(record_line_);
  ++rows_read_;
  return MaybeHandOver(false);
}

absl::Status CsvParser::MaybeHandOver(bool force) {
  absl::Status s = HandOverIfFull(rows_, options_.block, sink_, force);
  // The next record starts at the end of the (possibly emptied) arena.
  record_start_bytes_ = rows_.arena_bytes();
  return s;
}

absl::Status CsvParser::Feed(std::string_view data) {
  if (!error_.ok()) return error_;
  if (!data.empty()) saw_input_ = true;
  const char* p = data.data();
  const char* end = p + data.size();
  const char delim = options_.delimiter;
  std::string& arena = rows_.arena();
  auto fail = [&](absl::Status s) {
    error_ = s;
    return s;
  };
  while (p < end) {
    switch (state_) {
      case State::kRecordStart:
        if (*p == '\n') {  // Blank line: skipped.
          ++line_;
          ++p;
          continue;
        }
        if (*p == '\r') {
          ++p;
          state_ = State::kAfterCR;
          continue;
        }
        record_line_ = line_;
        state_ = State::kFieldStart;
        [[fallthrough]];
      case State::kFieldStart:
        field_start_ = static_cast<uint32_t>(arena.size());
        if (*p == '"') {
          quote_line_ = line_;
          state_ = State::kQuoted;
          ++p;
          continue;
        }
        state_ = State::kUnquoted;
        [[fallthrough]];
      case State::kUnquoted: {
        const char* s = p;
        while (p < end && *p != delim && *p != '\n' && *p != '\r') ++p;
        arena.append(s, p - s);
        if (p == end) break;
        EndField();
        if (*p == delim) {
          state_ = State::kFieldStart;
          ++p;
        } else {
          state_ = *p == '\n' ? State::kRecordStart : State::kAfterCR;
          if (*p == '\n') ++line_;
          ++p;
          if (auto st = EndRecord(); !st.ok()) return fail(st);
        }
        break;
      }
      case State::kQuoted: {
        const char* s = p;
        const void* q = std::memchr(p, '"', end - p);
        p = q ? static_cast<const char*>(q) : end;
        for (const char* c = s; c < p; ++c) line_ += (*c == '\n');
        arena.append(s, p - s);
        if (p == end) break;
        ++p;
        state_ = State::kQuoteInQuoted;
        break;
      }
      case State::kQuoteInQuoted:
        if (*p == '"') {
          arena.push_back('"');
          state_ = State::kQuoted;
          ++p;
        } else if (*p == delim) {
          EndField();
          state_ = State::kFieldStart;
          ++p;
        } else if (*p == '\n' || *p == '\r') {
          EndField();
          state_ = *p == '\n' ? State::kRecordStart : State::kAfterCR;
          if (*p == '\n') ++line_;
          ++p;
          if (auto st = EndRecord(); !st.ok()) return fail(st);
        } else {
          const bool delimiter_like = *p == ';' || *p == '\t' || *p == '|';
          return fail(absl::InvalidArgumentError(StrCat(
              "line ", line_, ": unexpected character '",
              *p == '\t' ? std::string("\\t") : std::string(1, *p),
              "' after the closing quote of a field (quotes inside a quoted "
              "field must be doubled",
              delimiter_like
                  ? StrCat("; or is the delimiter '",
                           *p == '\t' ? std::string("\\t") : std::string(1, *p),
                           "'?")
                  : "",
              ")")));
        }
        break;
      case State::kAfterCR:
        if (*p == '\n') ++p;
        ++line_;
        state_ = State::kRecordStart;
        break;
    }
    if (arena.size() - record_start_bytes_ > options_.max_record_bytes) {
      return fail(absl::InvalidArgumentError(StrCat(
          "line ", record_line_, ": record longer than ",
          options_.max_record_bytes, " bytes (unterminated quoted field?)")));
    }
  }
  return absl::OkStatus();
}

absl::Status CsvParser::Finish() {
  if (!error_.ok()) return error_;
  switch (state_) {
    case State::kQuoted:
      error_ = absl::InvalidArgumentError(
          StrCat("line ", quote_line_,
                 ": quoted field is not closed at end of input"));
      return error_;
    case State::kFieldStart:
    case State::kUnquoted:
    case State::kQuoteInQuoted:
      EndField();
      if (auto st = EndRecord(); !st.ok()) return error_ = st;
      break;
    case State::kRecordStart:
    case State::kAfterCR:
      break;
  }
  if (!saw_input_ || !header_done_) {
    return error_ = absl::InvalidArgumentError("empty input: no header line");
  }
  state_ = State::kRecordStart;
  return MaybeHandOver(true);
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
