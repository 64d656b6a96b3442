#include "services/monitor/monitor_report.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/monitor/profile.h"

namespace mlpipe::monitor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MonitorReportTest, HistogramsShareBinsAndTheHtmlDrawsEveryField) {
  Profiler ref, cur;
  for (int i = 0; i < 1000; ++i) {
    ref.AddNumber("x", i % 100);       // Uniform on [0, 99].
    cur.AddNumber("x", 50 + i % 100);  // Shifted by 50.
    ref.AddString("c", i % 4 == 0 ? "a" : "b");
    cur.AddString("c", i % 4 == 0 ? "z" : "b");
    ref.EndRow();
    cur.EndRow();
  }
  auto h = CompareHistogram(ref.ToProto(), cur.ToProto(), "x", 10);
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_EQ(h->labels.size(), 10u);  // [0, 149] in 10 bins of 14.9.
  EXPECT_EQ(h->labels[0], "0");
  double r = 0, c = 0;
  for (size_t i = 0; i < 10; ++i) {
    r += h->reference[i];
    c += h->current[i];
  }
  EXPECT_NEAR(r, 1, 1e-12);
  EXPECT_NEAR(c, 1, 1e-12);
  EXPECT_EQ(h->current[0], 0);    // Nothing below 50 now.
  EXPECT_EQ(h->reference[9], 0);  // Nothing above 134 before.
  auto cats = CompareHistogram(ref.ToProto(), cur.ToProto(), "c", 10);
  ASSERT_TRUE(cats.ok());
  EXPECT_THAT(cats->labels, ElementsAre("b", "a", "(other)"));
  EXPECT_THAT(cats->reference, ElementsAre(0.75, 0.25, 0.0));
  EXPECT_THAT(cats->current, ElementsAre(0.75, 0.0, 0.25));
  EXPECT_FALSE(CompareHistogram(ref.ToProto(), cur.ToProto(), "nope").ok());

  v1::MonitorReport report;
  report.set_model_version("m:<1>");
  auto drift = Compare(ref.ToProto(), cur.ToProto());
  ASSERT_TRUE(drift.ok());
  *report.mutable_drift() = *drift;
  *report.mutable_reference_profile() = ref.ToProto();
  *report.mutable_current_profile() = cur.ToProto();
  std::string html = MonitorHtmlReport(report);
  EXPECT_THAT(html, HasSubstr("m:&lt;1&gt;"));  // Escaped.
  EXPECT_THAT(html, HasSubstr("<h3 class=\"drifted\">x"));
  EXPECT_EQ(std::count(html.begin(), html.end(), '<') -
                std::count(html.begin(), html.end(), '>'),
            0);
  size_t svgs = 0;
  for (size_t at = html.find("<svg"); at != std::string::npos;
       at = html.find("<svg", at + 1))
    ++svgs;
  EXPECT_EQ(svgs, 2u);
}

}  // namespace
}  // namespace mlpipe::monitor
