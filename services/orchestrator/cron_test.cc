#include "services/orchestrator/cron.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::orchestrator {
namespace {

absl::Time At(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi),
                         absl::UTCTimeZone());
}

TEST(CronTest, NextFireTimes) {
  auto daily = CronSchedule::Parse("0 3 * * *");
  ASSERT_TRUE(daily.ok());
  EXPECT_EQ(daily->Next(At(2026, 11, 22, 2, 59), absl::UTCTimeZone()),
            At(2026, 11, 22, 3, 0));
  EXPECT_EQ(daily->Next(At(2026, 11, 22, 3, 0), absl::UTCTimeZone()),
            At(2026, 11, 23, 3, 0));
  auto quarter = CronSchedule::Parse("*/15 9-17 * * MON-FRI");
  ASSERT_TRUE(quarter.ok());
  // 2026-11-21 is a Saturday: the next fire is Monday 09:00.
  EXPECT_EQ(quarter->Next(At(2026, 11, 21, 12, 0), absl::UTCTimeZone()),
            At(2026, 11, 23, 9, 0));
  EXPECT_EQ(quarter->Next(At(2026, 11, 23, 9, 0), absl::UTCTimeZone()),
            At(2026, 11, 23, 9, 15));
  auto leap = CronSchedule::Parse("0 0 29 FEB *");
  EXPECT_EQ(leap->Next(At(2026, 3, 1, 0, 0), absl::UTCTimeZone()),
            At(2028, 2, 29, 0, 0));
  // Both day fields restricted: either matches.
  auto either = CronSchedule::Parse("0 0 1 * SUN");
  EXPECT_EQ(either->Next(At(2026, 11, 22, 0, 0), absl::UTCTimeZone()),
            At(2026, 11, 29, 0, 0));
  EXPECT_EQ(either->Next(At(2026, 11, 29, 0, 0), absl::UTCTimeZone()),
            At(2026, 12, 1, 0, 0));
}

TEST(CronTest, TimeZones) {
  absl::TimeZone paris;
  ASSERT_TRUE(absl::LoadTimeZone("Europe/Paris", &paris));
  auto daily = CronSchedule::Parse("0 3 * * *");
  // 03:00 in Paris in November (UTC+1) is 02:00 UTC.
  EXPECT_EQ(daily->Next(At(2026, 11, 22, 0, 0), paris), At(2026, 11, 22, 2, 0));
}

TEST(CronTest, ErrorsNameTheField) {
  EXPECT_THAT(CronSchedule::Parse("0 3 * *").status().ToString(),
              ::testing::HasSubstr("expected 5 fields"));
  EXPECT_THAT(
      CronSchedule::Parse("61 * * * *").status().ToString(),
      ::testing::HasSubstr("cron minute '61': values must be within 0-59"));
  EXPECT_THAT(CronSchedule::Parse("* * * * FUNDAY").status().ToString(),
              ::testing::HasSubstr("cron weekday 'FUNDAY'"));
  EXPECT_THAT(CronSchedule::Parse("*/0 * * * *").status().ToString(),
              ::testing::HasSubstr("bad step"));
}

}  // namespace
}  // namespace mlpipe::orchestrator
