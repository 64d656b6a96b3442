// 5-field cron expressions: minute hour day-of-month month day-of-week, each
// "*", a number, a range "a-b", a list "a,b", or a step "*/n" / "a-b/n".
// Months and weekdays also take names (JAN, MON). Day-of-week 0 and 7 are
// Sunday. When both day fields are restricted, a day matching either fires
// (as in Vixie cron).
#ifndef MLPIPE_SERVICES_ORCHESTRATOR_CRON_H_
#define MLPIPE_SERVICES_ORCHESTRATOR_CRON_H_

#include <bitset>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace mlpipe::orchestrator {

class CronSchedule {
 public:
  // INVALID_ARGUMENT naming the field and the reason.
  static absl::StatusOr<CronSchedule> Parse(std::string_view expr);
  // The first minute strictly after `after` that matches, in `tz`.
  absl::Time Next(absl::Time after, absl::TimeZone tz) const;
  bool Matches(const absl::CivilMinute& m) const;

 private:
  bool DayMatches(const absl::CivilDay& d) const;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1..31
  std::bitset<13> months_;   // 1..12
  std::bitset<8> weekdays_;  // 0..6, Sunday = 0
  bool days_any_ = true, weekdays_any_ = true;
};

}  // namespace mlpipe::orchestrator

#endif  // MLPIPE_SERVICES_ORCHESTRATOR_CRON_H_
