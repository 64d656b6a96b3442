#include "services/orchestrator/cron.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "common/util/strings.h"

namespace mlpipe::orchestrator {
namespace {

constexpr const char* kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                   "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kDays[] = {"SUN", "MON", "TUE", "WED",
                                 "THU", "FRI", "SAT"};

// Parses one field into `bits` over [lo, hi]; `names` map to lo + index.
template <size_t N>
absl::Status ParseField(std::string_view text, std::string_view field, int lo,
                        int hi, const char* const* names, int name_count,
                        int name_base, std::bitset<N>* bits, bool* any) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat("cron ", field, " '", text, "': ", why));
  };
  auto number = [&](std::string_view s, int* out) {
    std::string up(s);
    for (auto& c : up) c = static_cast<char>(std::toupper(c));
    for (int i = 0; i < name_count; ++i) {
      if (up == names[i]) {
        *out = name_base + i;
        return true;
      }
    }
    if (s.empty()) return false;
    char* end = nullptr;
    std::string str(s);
    long v = std::strtol(str.c_str(), &end, 10);
    if (end != str.c_str() + str.size()) return false;
    *out = static_cast<int>(v);
    return true;
  };
  *any = text == "*";
  std::vector<std::string> parts =
      absl::StrSplit(absl::string_view(text.data(), text.size()), ',');
  for (const std::string& part_text : parts) {
    std::string_view part = part_text;
    std::string_view range = part;
    int step = 1;
    if (size_t slash = part.find('/'); slash != std::string_view::npos) {
      range = part.substr(0, slash);
      if (!number(part.substr(slash + 1), &step) || step < 1)
        return bad("bad step");
    }
    int a = lo, b = hi;
    if (range != "*") {
      size_t dash = range.find('-');
      if (dash == std::string_view::npos) {
        if (!number(range, &a)) return bad("not a number or name");
        b = part.find('/') != std::string_view::npos ? hi : a;
      } else if (!number(range.substr(0, dash), &a) ||
                 !number(range.substr(dash + 1), &b)) {
        return bad("bad range");
      }
    }
    if (a < lo || b > hi || a > b) {
      return bad(StrCat("values must be within ", lo, "-", hi));
    }
    for (int v = a; v <= b; v += step) bits->set(v);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expr) {
  std::vector<std::string> f = absl::StrSplit(
      absl::string_view(expr.data(), expr.size()), ' ', absl::SkipEmpty());
  if (f.size() != 5) {
    return absl::InvalidArgumentError(
        StrCat("cron '", expr,
               "': expected 5 fields (minute hour day month weekday), got ",
               f.size()));
  }
  CronSchedule c;
  bool ignored;
  if (auto s = ParseField(f[0], "minute", 0, 59, nullptr, 0, 0, &c.minutes_,
                          &ignored);
      !s.ok())
    return s;
  if (auto s =
          ParseField(f[1], "hour", 0, 23, nullptr, 0, 0, &c.hours_, &ignored);
      !s.ok())
    return s;
  if (auto s =
          ParseField(f[2], "day", 1, 31, nullptr, 0, 0, &c.days_, &c.days_any_);
      !s.ok())
    return s;
  if (auto s = ParseField(f[3], "month", 1, 12, kMonths, 12, 1, &c.months_,
                          &ignored);
      !s.ok())
    return s;
  std::bitset<8> wd;
  if (auto s =
          ParseField(f[4], "weekday", 0, 7, kDays, 7, 0, &wd, &c.weekdays_any_);
      !s.ok())
    return s;
  if (wd.test(7)) wd.set(0);
  c.weekdays_ = wd;
  return c;
}

bool CronSchedule::DayMatches(const absl::CivilDay& d) const {
  int wd = 0;
  switch (absl::GetWeekday(d)) {
    case absl::Weekday::sunday:
      wd = 0;
      break;
    case absl::Weekday::monday:
      wd = 1;
      break;
    case absl::Weekday::tuesday:
      wd = 2;
      break;
    case absl::Weekday::wednesday:
      wd = 3;
      break;
    case absl::Weekday::thursday:
      wd = 4;
      break;
    case absl::Weekday::friday:
      wd = 5;
      break;
    case absl::Weekday::saturday:
      wd = 6;
      break;
  }
  bool day = days_.test(d.day()), weekday = weekdays_.test(wd);
  if (days_any_ && weekdays_any_) return true;
  if (days_any_) return weekday;
  if (weekdays_any_) return day;
  return day || weekday;
}

bool CronSchedule::Matches(const absl::CivilMinute& m) const {
  return months_.test(m.month()) && DayMatches(absl::CivilDay(m)) &&
         hours_.test(m.hour()) && minutes_.test(m.minute());
}

absl::Time CronSchedule::Next(absl::Time after, absl::TimeZone tz) const {
  absl::CivilMinute m = absl::ToCivilMinute(after, tz) + 1;
  // Skips whole months, days and hours that cannot match.
  for (int guard = 0; guard < 1000000; ++guard) {
    if (!months_.test(m.month())) {
      m = absl::CivilMinute(absl::CivilMonth(m) + 1);
    } else if (!DayMatches(absl::CivilDay(m))) {
      m = absl::CivilMinute(absl::CivilDay(m) + 1);
    } else if (!hours_.test(m.hour())) {
      m = absl::CivilMinute(absl::CivilHour(m) + 1);
    } else if (!minutes_.test(m.minute())) {
      ++m;
    } else {
      return absl::FromCivil(m, tz);
    }
  }
  return absl::InfiniteFuture();  // e.g. "0 0 31 2 *" never matches.
}

}  // namespace mlpipe::orchestrator
