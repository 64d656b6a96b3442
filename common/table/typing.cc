#include "common/table/typing.h"

#include <charconv>
#include <cmath>

#include "common/util/strings.h"

namespace mlpipe::table {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30,
                                       31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `s[*pos]`.
inline bool Digits(std::string_view s, size_t* pos, int n, int* out) {
  if (*pos + n > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = s[*pos + i];
    if (!IsDigit(c)) return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

// Digits, optionally '.' and more digits (one at least on each side), 15
// digits in all at most, from s[i]; a leading '-' at s[0]. Such a number is
// m / 10^k with m < 2^53 and k <= 15, both exact as doubles, so one division
// rounds it correctly (Clinger's fast path); other forms return false.
bool ParseShortDecimal(std::string_view s, size_t i, double* out) {
  static constexpr double kPow10[] = {1e0,  1e1,  1e2,  1e3, 1e4,  1e5,
                                      1e6,  1e7,  1e8,  1e9, 1e10, 1e11,
                                      1e12, 1e13, 1e14, 1e15};
  const size_t n = s.size();
  if (n - i > 16) return false;
  uint64_t m = 0;
  size_t k = i, point = n;
  for (; k < n; ++k) {
    const char c = s[k];
    if (IsDigit(c)) {
      m = m * 10 + static_cast<uint64_t>(c - '0');
    } else if (c == '.' && point == n && k > i && k + 1 < n) {
      point = k;
    } else {
      return false;
    }
  }
  const size_t digits = n - i - (point != n);
  if (digits > 15) return false;
  const double v =
      static_cast<double>(m) / kPow10[point == n ? 0 : n - point - 1];
  *out = s[0] == '-' ? -v : v;
  return true;
}

void AppendPadded(int64_t v, int width, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  int len = static_cast<int>(r.ptr - buf);
  for (int i = len; i < width; ++i) out->push_back('0');
  out->append(buf, len);
}

}  // namespace

bool ParseNumber(std::string_view s, double* out) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i >= s.size()) return false;
  char c = s[i];
  if (!IsDigit(c) && c != '.') return false;  // Rejects inf, nan, '+'.
  if (c == '0' && i + 1 < s.size() && IsDigit(s[i + 1])) return false;
  if (ParseShortDecimal(s, i, out)) return true;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size() &&
         std::isfinite(*out);
}

void AppendNumber(double v, std::string* out) {
  // As JavaScript's Number#toString: plain decimals between 1e-6 and 1e21
  // (so 200000 stays "200000", not "2e+05"), exponent form outside.
  char buf[400];
  double a = std::fabs(v);
  auto fmt = (a == 0 || (a >= 1e-6 && a < 1e21))
                 ? std::chars_format::fixed
                 : std::chars_format::scientific;
  auto r = std::to_chars(buf, buf + sizeof(buf), v, fmt);
  out->append(buf, r.ptr - buf);
}

std::string TimestampFormat::ToString() const {
  std::string s = "%Y-%m-%d";
  if (has_time) {
    s.push_back(separator);
    s += "%H:%M";
    if (has_seconds) s += ":%S";
    if (fraction_digits > 0) StrAppend(&s, ".%", fraction_digits, "f");
  }
  if (zulu) s.push_back('Z');
  return s;
}

std::optional<TimestampFormat> TimestampFormat::FromString(std::string_view p) {
  TimestampFormat f;
  if (!p.starts_with("%Y-%m-%d")) return std::nullopt;
  p.remove_prefix(8);
  if (!p.empty() && (p[0] == 'T' || p[0] == ' ')) {
    f.separator = p[0];
    p.remove_prefix(1);
    if (!p.starts_with("%H:%M")) return std::nullopt;
    f.has_time = true;
    p.remove_prefix(5);
    if (p.starts_with(":%S")) {
      f.has_seconds = true;
      p.remove_prefix(3);
    }
    if (p.size() >= 4 && p.starts_with(".%") && p[3] == 'f' && p[2] >= '1' &&
        p[2] <= '6') {
      f.fraction_digits = p[2] - '0';
      p.remove_prefix(4);
    }
  }
  if (p == "Z") {
    f.zulu = true;
    p.remove_prefix(1);
  }
  if (!p.empty()) return std::nullopt;
  return f;
}

bool ParseTimestamp(std::string_view s, int64_t* micros,
                    TimestampFormat* format) {
  TimestampFormat f;
  size_t pos = 0;
  int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
  if (!Digits(s, &pos, 4, &y) || pos >= s.size() || s[pos++] != '-' ||
      !Digits(s, &pos, 2, &mo) || pos >= s.size() || s[pos++] != '-' ||
      !Digits(s, &pos, 2, &d)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > static_cast<int>(DaysInMonth(y, mo))) {
    return false;
  }
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
    f.has_time = true;
    f.separator = s[pos++];
    if (!Digits(s, &pos, 2, &h) || pos >= s.size() || s[pos++] != ':' ||
        !Digits(s, &pos, 2, &mi) || h > 23 || mi > 59) {
      return false;
    }
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!Digits(s, &pos, 2, &sec) || sec > 59) return false;
      f.has_seconds = true;
      if (pos < s.size() && s[pos] == '.') {
        ++pos;
        size_t start = pos;
        while (pos < s.size() && IsDigit(s[pos])) ++pos;
        int n = static_cast<int>(pos - start);
        if (n < 1 || n > 6) return false;
        size_t p2 = start;
        Digits(s, &p2, n, &frac);
        for (int i = n; i < 6; ++i) frac *= 10;
        f.fraction_digits = n;
      }
    }
  }
  if (pos < s.size() && s[pos] == 'Z') {
    f.zulu = true;
    ++pos;
  }
  if (pos != s.size()) return false;
  int64_t days = DaysFromCivil(y, mo, d);
  *micros = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000) + frac;
  *format = f;
  return true;
}

namespace {

// Two digits at s[i] as a number, or -1.
inline int Two(const char* s, size_t i) {
  const unsigned a = static_cast<unsigned char>(s[i]) - '0';
  const unsigned b = static_cast<unsigned char>(s[i + 1]) - '0';
  return a < 10 && b < 10 ? static_cast<int>(a * 10 + b) : -1;
}

}  // namespace

bool ParseTimestampIn(std::string_view s, const TimestampFormat& f,
                      int64_t* micros) {
  const size_t frac_at = 20;
  const size_t len = 10 + (f.has_time ? 6 : 0) + (f.has_seconds ? 3 : 0) +
                     (f.fraction_digits > 0 ? 1 + f.fraction_digits : 0) +
                     (f.zulu ? 1 : 0);
  if (s.size() != len) return false;
  const char* p = s.data();
  const int yh = Two(p, 0), yl = Two(p, 2), mo = Two(p, 5), d = Two(p, 8);
  if ((yh | yl | mo | d) < 0 || p[4] != '-' || p[7] != '-') return false;
  const int y = yh * 100 + yl;
  if (mo < 1 || mo > 12 || d < 1 || d > static_cast<int>(DaysInMonth(y, mo)))
    return false;
  int h = 0, mi = 0, sec = 0, frac = 0;
  if (f.has_time) {
    h = Two(p, 11);
    mi = Two(p, 14);
    if (p[10] != f.separator || p[13] != ':' || h < 0 || h > 23 || mi < 0 ||
        mi > 59)
      return false;
    if (f.has_seconds) {
      sec = Two(p, 17);
      if (p[16] != ':' || sec < 0 || sec > 59) return false;
      if (f.fraction_digits > 0) {
        if (p[19] != '.') return false;
        for (int i = 0; i < 6; ++i) {
          if (i >= f.fraction_digits) {
            frac *= 10;
            continue;
          }
          const unsigned c = static_cast<unsigned char>(p[frac_at + i]) - '0';
          if (c >= 10) return false;
          frac = frac * 10 + static_cast<int>(c);
        }
      }
    }
  }
  if (f.zulu && p[len - 1] != 'Z') return false;
  const int64_t days = DaysFromCivil(y, mo, d);
  *micros = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000) + frac;
  return true;
}

void AppendTimestamp(int64_t micros, const TimestampFormat& f,
                     std::string* out) {
  int64_t secs =
      micros >= 0 ? micros / 1000000 : -((-micros + 999999) / 1000000);
  int64_t frac = micros - secs * 1000000;
  int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  int64_t tod = secs - days * 86400;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  AppendPadded(y, 4, out);
  out->push_back('-');
  AppendPadded(m, 2, out);
  out->push_back('-');
  AppendPadded(d, 2, out);
  if (f.has_time) {
    out->push_back(f.separator);
    AppendPadded(tod / 3600, 2, out);
    out->push_back(':');
    AppendPadded(tod / 60 % 60, 2, out);
    if (f.has_seconds) {
      out->push_back(':');
      AppendPadded(tod % 60, 2, out);
    }
    if (f.fraction_digits > 0) {
      out->push_back('.');
      int64_t v = frac;
      for (int i = f.fraction_digits; i < 6; ++i) v /= 10;
      AppendPadded(v, f.fraction_digits, out);
    }
  }
  if (f.zulu) out->push_back('Z');
}

absl::StatusOr<Column> CastColumn(Column c, ColumnType type,
                                  std::string_view timestamp_format) {
  if (c.type == type) return c;
  const size_t n = c.size();
  if (c.type == ColumnType::kUnknown ||
      (IsStringType(c.type) && IsStringType(type))) {
    if (c.type == ColumnType::kUnknown && c.valid.CountSet() != 0) {
      return absl::InternalError(
          StrCat("column '", c.name, "' has values but no type"));
    }
    Column out;
    out.name = std::move(c.name);
    out.type = type;
    out.timestamp_format = std::string(timestamp_format);
    if (IsStringType(type) && IsStringType(c.type)) {
      out.strings = std::move(c.strings);
      out.valid = std::move(c.valid);
      return out;
    }
    for (size_t i = 0; i < n; ++i) out.AppendMissing();
    return out;
  }
  if (IsStringType(type) &&
      (c.type == ColumnType::kNumeric || c.type == ColumnType::kTimestamp)) {
    Column out;
    out.name = std::move(c.name);
    out.type = type;
    out.strings.resize(n);
    auto format = TimestampFormat::FromString(c.timestamp_format)
                      .value_or(TimestampFormat{});
    for (size_t i = 0; i < n; ++i) {
      if (!c.valid.Get(i)) continue;
      if (c.type == ColumnType::kNumeric) {
        AppendNumber(c.numbers[i], &out.strings[i]);
      } else {
        AppendTimestamp(c.timestamps[i], format, &out.strings[i]);
      }
    }
    out.valid = std::move(c.valid);
    return out;
  }
  return absl::FailedPreconditionError(
      StrCat("column '", c.name, "' cannot be read as ", ColumnTypeName(type),
             ": it holds ", ColumnTypeName(c.type), " values"));
}

ColumnTyper::ColumnTyper(std::vector<std::string> null_values)
    : null_values_(null_values.begin(), null_values.end()) {}

void ColumnTyper::Fix(const std::string& name, ColumnType type,
                      std::string timestamp_format) {
  if (type == ColumnType::kUnknown) return;  // Nothing to hold it to yet.
  states_[name] = {type, std::move(timestamp_format), true};
}

namespace {

// An integer literal a double cannot hold exactly (past 2^53): such a
// column stays text, exact, instead of becoming numbers that differ.
bool InexactInteger(std::string_view s, double v) {
  const size_t sign = s[0] == '-' ? 1 : 0;
  if (s.size() - sign < 16) return false;  // Up to 15 digits: exact.
  for (size_t k = sign; k < s.size(); ++k)
    if (!IsDigit(s[k])) return false;
  std::string back;
  AppendNumber(v, &back);
  return back != s;
}

}  // namespace

bool ColumnTyper::TryNumeric(const TextRows& rows, size_t col, Column* out,
                             size_t* bad_row) const {
  const size_t n = rows.num_rows();
  out->type = ColumnType::kNumeric;
  out->numbers.resize(n);
  out->valid.Resize(n, true);
  for (size_t r = 0; r < n; ++r) {
    std::string_view cell = rows.cell(r, col);
    if (IsNull(cell)) {
      out->numbers[r] = 0;
      out->valid.Set(r, false);
    } else if (!ParseNumber(cell, &out->numbers[r]) ||
               InexactInteger(cell, out->numbers[r])) {
      *bad_row = r;
      return false;
    }
  }
  return true;
}

bool ColumnTyper::TryTimestamp(const TextRows& rows, size_t col,
                               std::optional<TimestampFormat> format,
                               Column* out, size_t* bad_row) const {
  const size_t n = rows.num_rows();
  out->type = ColumnType::kTimestamp;
  out->timestamps.resize(n);
  out->valid.Resize(n, true);
  for (size_t r = 0; r < n; ++r) {
    std::string_view cell = rows.cell(r, col);
    if (IsNull(cell)) {
      out->timestamps[r] = 0;
      out->valid.Set(r, false);
      continue;
    }
    if (format) {
      if (!ParseTimestampIn(cell, *format, &out->timestamps[r])) {
        *bad_row = r;
        return false;
      }
      continue;
    }
    TimestampFormat f;
    if (!ParseTimestamp(cell, &out->timestamps[r], &f)) {
      *bad_row = r;
      return false;
    }
    format = f;
  }
  if (format) out->timestamp_format = format->ToString();
  return true;
}

void ColumnTyper::AsStrings(const TextRows& rows, size_t col, bool copy,
                            Column* out) const {
  const size_t n = rows.num_rows();
  if (copy) out->strings.resize(n);
  out->valid.Resize(n, true);
  for (size_t r = 0; r < n; ++r) {
    std::string_view cell = rows.cell(r, col);
    if (rows.IsNull(r, col) || IsNull(cell)) {
      out->valid.Set(r, false);
    } else if (copy) {
      out->strings[r].assign(cell);
    }
  }
}

absl::StatusOr<Column> ColumnTyper::Type(const TextRows& rows, size_t col,
                                         bool copy_strings) {
  const std::string& name = rows.names()[col];
  ColumnTypeState& state = states_[name];
  Column out;
  out.name = name;
  size_t bad = 0;
  auto conflict = [&](std::string_view wanted) {
    return absl::FailedPreconditionError(
        StrCat("column '", name, "': value '", rows.cell(bad, col),
               "' at line ", rows.line(bad), " is not ", wanted,
               ", but the dataset's schema has the column as ",
               ColumnTypeName(state.type)));
  };
  switch (state.type) {
    case ColumnType::kUnknown: {
      size_t n = rows.num_rows(), nulls = 0;
      for (size_t r = 0; r < n; ++r) nulls += IsNull(rows.cell(r, col));
      if (nulls == n) {
        out.valid.Resize(n, false);  // Still unknown: all missing.
        return out;
      }
      if (TryNumeric(rows, col, &out, &bad)) {
        state.type = ColumnType::kNumeric;
        return out;
      }
      out = Column{.name = name};
      if (TryTimestamp(rows, col, std::nullopt, &out, &bad)) {
        state.type = ColumnType::kTimestamp;
        state.timestamp_format = out.timestamp_format;
        return out;
      }
      out = Column{.name = name};
      state.type = ColumnType::kCategorical;
      break;
    }
    case ColumnType::kNumeric:
      if (TryNumeric(rows, col, &out, &bad)) return out;
      if (state.fixed) return conflict("a number");
      out = Column{.name = name};
      state.type = ColumnType::kCategorical;  // Widened.
      break;
    case ColumnType::kTimestamp:
      if (TryTimestamp(rows, col,
                       TimestampFormat::FromString(state.timestamp_format),
                       &out, &bad)) {
        return out;
      }
      if (state.fixed) {
        return conflict(
            StrCat("a timestamp in the layout ", state.timestamp_format));
      }
      out = Column{.name = name};
      state.type = ColumnType::kCategorical;
      state.timestamp_format.clear();
      break;
    case ColumnType::kCategorical:
    case ColumnType::kText:
      break;
  }
  out.type = state.type;
  AsStrings(rows, col, copy_strings, &out);
  return out;
}

absl::Status ColumnTyper::Accept(const Column& column) {
  ColumnTypeState& state = states_[column.name];
  if (column.type == ColumnType::kUnknown || column.type == state.type) {
    return absl::OkStatus();
  }
  if (state.type == ColumnType::kUnknown) {
    state.type = column.type;
    state.timestamp_format = column.timestamp_format;
    return absl::OkStatus();
  }
  std::string msg =
      StrCat("column '", column.name, "' is ", ColumnTypeName(column.type),
             " here but ", ColumnTypeName(state.type));
  if (state.fixed) {
    return absl::FailedPreconditionError(
        StrCat(msg, " in the dataset's schema"));
  }
  return absl::InvalidArgumentError(StrCat(msg, " in earlier frames"));
}

}  // namespace mlpipe::table
