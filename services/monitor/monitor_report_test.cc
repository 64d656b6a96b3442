#include "services/monitor/monitor_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "common/table/table.h"
#include "common/util/strings.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/monitor/profile.h"
#include "services/monitor/rollout_report.h"

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
  // [0, 149] in about 10 bins: 8 of 20 (a round step, not 14.9).
  ASSERT_EQ(h->labels.size(), 8u);
  EXPECT_THAT(h->edges, ElementsAre(0, 20, 40, 60, 80, 100, 120, 140, 160));
  // The axis ends on a tick: 19 bins of 1,000 are padded to 20 (ticks
  // every 4).
  Profiler wide_ref, wide_cur;
  for (int v : {1013, 19999}) {
    wide_ref.AddNumber("w", v);
    wide_cur.AddNumber("w", v);
    wide_ref.EndRow();
    wide_cur.EndRow();
  }
  auto wide = CompareHistogram(wide_ref.ToProto(), wide_cur.ToProto(), "w");
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ(wide->edges.front(), 1000);
  EXPECT_EQ(wide->edges.back(), 21000);
  EXPECT_EQ(h->labels[0], "[0, 20)");
  double r = 0, c = 0;
  for (size_t i = 0; i < h->labels.size(); ++i) {
    r += h->reference[i];
    c += h->current[i];
  }
  EXPECT_NEAR(r, 1, 1e-12);
  EXPECT_NEAR(c, 1, 1e-12);
  EXPECT_EQ(h->current[0], 0);    // Nothing below 50 now.
  EXPECT_EQ(h->reference[7], 0);  // Nothing above 140 before.
  auto cats = CompareHistogram(ref.ToProto(), cur.ToProto(), "c", 10);
  ASSERT_TRUE(cats.ok());
  // A category the reference never saw keeps its name.
  EXPECT_THAT(cats->labels, ElementsAre("b", "a", "z"));
  EXPECT_THAT(cats->reference, ElementsAre(0.75, 0.25, 0.0));
  EXPECT_THAT(cats->current, ElementsAre(0.75, 0.0, 0.25));
  EXPECT_THAT(cats->unseen, ElementsAre(false, false, true));
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

// What a person reads: round ticks with separators, at most 7 per plot;
// categories by their full names; the drifted fields first.
v1::MonitorReport Readable() {
  Profiler ref, cur;
  for (int i = 0; i < 4000; ++i) {
    ref.AddNumber("amount", 1013 + (i * 7919) % 19000);  // ~1,013 .. 20,012.
    cur.AddNumber("amount", 1013 + (i * 7919) % 19000);
    ref.AddNumber("rate", 0.000568 + 0.0926 * (i % 100) / 100);
    cur.AddNumber("rate", 0.02 + 0.0926 * (i % 100) / 100);
    ref.AddString("airport", i % 3 == 0 ? "Hartsfield-Jackson Atlanta" : "ORD");
    cur.AddString("airport",
                  i % 3 == 0 ? "Dallas/Fort Worth International" : "ORD");
    ref.EndRow();
    cur.EndRow();
  }
  v1::MonitorReport report;
  report.set_model_version("flights:2");
  auto drift = Compare(ref.ToProto(), cur.ToProto());
  EXPECT_TRUE(drift.ok());
  *report.mutable_drift() = *drift;
  *report.mutable_reference_profile() = ref.ToProto();
  *report.mutable_current_profile() = cur.ToProto();
  return report;
}

// The text of every <text> element in one plot of `html` (from `from`).
std::vector<std::string> Ticks(const std::string& html, size_t from) {
  std::vector<std::string> out;
  const size_t end = html.find("</svg>", from);
  for (size_t at = html.find("class=\"tick", from); at < end;
       at = html.find("class=\"tick", at + 1)) {
    const size_t open = html.find('>', at) + 1;
    out.push_back(html.substr(open, html.find('<', open) - open));
  }
  return out;
}

// Edge values: the minimum inside the first bin whatever the rounding,
// ranges near a double's limits and tiny ones drawn without a crash, and a
// category the reference counted as "other" is not called new.
TEST(MonitorReportTest, ExtremeRangesAndCappedCategories) {
  auto profiles = [](std::vector<double> values) {
    Profiler p;
    for (double v : values) {
      p.AddNumber("x", v);
      p.EndRow();
    }
    return p.ToProto();
  };
  v1::Profile a = profiles({1.7, 2.2, 3.6});
  auto h = CompareHistogram(a, a, "x");
  ASSERT_TRUE(h.ok());
  EXPECT_LE(h->edges.front(), 1.7);
  EXPECT_GE(h->edges.back(), 3.6);
  EXPECT_GT(h->reference.front(), 0);  // 1.7 is counted, in bin 0.
  for (auto values :
       {std::vector<double>{0, 1.7e308}, std::vector<double>{-1e308, 1e308},
        std::vector<double>{0, 5e-9}}) {
    v1::Profile p = profiles(values);
    auto wide = CompareHistogram(p, p, "x");
    ASSERT_TRUE(wide.ok()) << values[1];
    for (double e : wide->edges)
      EXPECT_TRUE(std::isfinite(e)) << ::testing::PrintToString(wide->edges);
    v1::MonitorReport report;
    auto drift = Compare(p, p);
    ASSERT_TRUE(drift.ok());
    *report.mutable_drift() = *drift;
    *report.mutable_reference_profile() = p;
    *report.mutable_current_profile() = p;
    const std::string html = MonitorHtmlReport(report);
    EXPECT_THAT(html, ::testing::Not(HasSubstr("inf")));
    auto ticks = Ticks(html, 0);
    EXPECT_EQ(std::set<std::string>(ticks.begin(), ticks.end()).size(),
              ticks.size())
        << "ticks that read the same: " << ::testing::PrintToString(ticks);
  }
  v1::Profile capped, now;
  auto* r = capped.add_fields();
  r->set_name("c");
  r->set_kind(v1::FieldProfile::CATEGORICAL);
  (*r->mutable_categories())["a"] = 10;
  r->set_other(5);  // Past the cap: "b" may be among these.
  auto* c = now.add_fields();
  *c = *r;
  c->clear_other();
  (*c->mutable_categories())["b"] = 5;
  auto cats = CompareHistogram(capped, now, "c");
  ASSERT_TRUE(cats.ok());
  EXPECT_THAT(cats->labels, ElementsAre("a", "b", "(other)"));
  EXPECT_THAT(cats->unseen, ElementsAre(false, false, false));
}

TEST(MonitorReportTest, AxesAreReadableAndCategoriesNamedInFull) {
  const std::string html = MonitorHtmlReport(Readable());
  auto amount = Ticks(html, html.find("<h3 class=\"\">amount"));
  EXPECT_THAT(amount, ElementsAre("1,000", "5,000", "9,000", "13,000", "17,000",
                                  "21,000"));
  auto rate = Ticks(html, html.find("<h3 class=\"drifted\">rate"));
  EXPECT_THAT(rate, ElementsAre("0.00", "0.02", "0.04", "0.06", "0.08", "0.10",
                                "0.12"));
  // Long and unseen category names whole, the unseen one marked.
  EXPECT_THAT(html, HasSubstr(">Hartsfield-Jackson Atlanta<title>"));
  EXPECT_THAT(html, HasSubstr("Dallas/Fort Worth International (new)"));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("(other)")));
  // The summary names the drifted fields; their plots come first.
  EXPECT_THAT(html, HasSubstr("2 of 3 fields drifted: <b>"));
  EXPECT_LT(html.find("<h3 class=\"drifted\">"),
            html.find("<h3 class=\"\">amount"));
}

// A timestamp column's axis reads as dates (not 1.7e+15 microseconds), on
// whole days; under a day, with the time of day.
TEST(MonitorReportTest, TimestampAxesReadAsDates) {
  auto profile = [](int64_t first, int64_t every, int n) {
    table::Table t;
    table::Column c;
    c.name = "departed";
    c.type = table::ColumnType::kTimestamp;
    for (int i = 0; i < n; ++i) {
      c.timestamps.push_back(first + i * every);
      c.valid.PushBack(true);
    }
    t.columns.push_back(std::move(c));
    t.num_rows = n;
    Profiler p;
    p.AddTable(t);
    return p.ToProto();
  };
  constexpr int64_t kJan1 = 1704067200000000;  // 2024-01-01T00:00:00Z.
  constexpr int64_t kHour = 3600000000;
  // Two months of hourly rows against the same shifted by two weeks.
  v1::Profile ref = profile(kJan1, kHour, 24 * 60);
  v1::Profile cur = profile(kJan1 + 14 * 24 * kHour, kHour, 24 * 60);
  ASSERT_TRUE(ref.fields(0).timestamp());
  auto h = CompareHistogram(ref, cur, "departed");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_TRUE(h->time);
  // 74 days in about 20 bins: weeks, from a Monday.
  EXPECT_EQ(h->labels.front(), "[2024-01-01, 2024-01-08)");
  for (double e : h->edges)
    EXPECT_EQ(std::fmod(e, 24.0 * kHour), 0) << "not midnight: " << e;
  v1::MonitorReport report;
  auto drift = Compare(ref, cur);
  ASSERT_TRUE(drift.ok());
  *report.mutable_drift() = *drift;
  *report.mutable_reference_profile() = ref;
  *report.mutable_current_profile() = cur;
  std::string html = MonitorHtmlReport(report);
  auto ticks = Ticks(html, 0);
  ASSERT_GE(ticks.size(), 3u);
  EXPECT_EQ(ticks.front(), "2024-01-01");
  EXPECT_THAT(html, HasSubstr("<td class=\"text\">time</td>"));
  EXPECT_THAT(html, ::testing::Not(HasSubstr("e+15")));
  // Six hours of minutes: ticks with the time of day.
  v1::Profile hours = profile(kJan1, 60000000, 360);
  auto short_h = CompareHistogram(hours, hours, "departed");
  ASSERT_TRUE(short_h.ok());
  EXPECT_EQ(short_h->labels.front(), "[2024-01-01 00:00, 2024-01-01 00:30)");
}

// Headless Chromium lays it out at 1400 and 700 px wide without the page
// scrolling sideways, and paints it (MLPIPE_KEEP_REPORT=PREFIX keeps the
// page and the screenshots to look at).
TEST(MonitorReportTest, ChromiumRendersItWithoutOverflow) {
  ASSERT_EQ(std::system("command -v chromium > /dev/null"), 0)
      << "chromium is not installed (scripts/install-deps.sh test installs it)";
  testing::TempDir dir;
  const std::string page = dir.path() + "/report.html";
  // A probe: the document's width against the window's, and whether a
  // table scrolls sideways in its box, written into the DOM once laid out.
  std::string html = MonitorHtmlReport(Readable());
  html.insert(html.rfind("</body>"),
              "<script>window.onload = () => {"
              "document.body.setAttribute('data-overflow', "
              "document.documentElement.scrollWidth > window.innerWidth);"
              "document.body.setAttribute('data-table-scrolls', "
              "[...document.querySelectorAll('table')].some("
              "t => t.scrollWidth > t.clientWidth));};</script>");
  testing::WriteFile(page, html);
  const std::string flags =
      "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
      "--user-data-dir=" +
      dir.path() + "/profile ";
  for (int width : {1400, 700}) {
    std::string dom =
        testing::Shell(flags + "--window-size=" + std::to_string(width) +
                       ",1200 --dump-dom file://" + page + " 2>/dev/null");
    EXPECT_THAT(dom, HasSubstr("data-overflow=\"false\"")) << width << " px";
    // At 1400 px every column shows; narrower, a wide table scrolls in its
    // own box.
    if (width == 1400)
      EXPECT_THAT(dom, HasSubstr("data-table-scrolls=\"false\""));
    const std::string png = dir.path() + "/" + std::to_string(width) + ".png";
    testing::Shell(flags + "--window-size=" + std::to_string(width) +
                   ",1600 --screenshot=" + png + " file://" + page +
                   " 2>/dev/null");
    const std::string data = testing::ReadFile(png);
    ASSERT_GT(data.size(), 8u);
    EXPECT_EQ(data.substr(1, 3), "PNG");
    EXPECT_GT(data.size(), 20000u) << "the screenshot looks blank";
    if (const char* keep = std::getenv("MLPIPE_KEEP_REPORT")) {
      testing::WriteFile(std::string(keep) + ".html", html);
      testing::WriteFile(StrCat(keep, "-", width, ".png"), data);
    }
  }
}

TEST(RolloutReportTest, TheConfidenceSequenceIsDrawnOverTheChecks) {
  v1::Rollout r;
  r.set_alias("credit@production");
  r.set_canary("credit:5");
  r.set_primary("credit:4");
  r.set_state(v1::Rollout::RUNNING);
  r.set_share(25);
  r.set_started_by("run:r1/deploy <x>");
  r.set_started_micros(1'000'000);
  for (int i = 1; i <= 5; ++i) {
    auto* c = r.add_checks();
    c->set_time_micros(1'000'000 + i * 600'000'000LL);
    c->set_share(i < 3 ? 5 : 25);
    c->set_decision(i == 5 ? "advance" : "hold");
    auto* k = c->add_criteria();
    k->set_name("auc");
    k->set_estimate(0.004);
    k->set_lower(0.004 - 0.1 / i);
    k->set_upper(0.004 + 0.1 / i);
    k->set_bound(-0.01);
    k->set_verdict(i == 5 ? "pass" : "hold");
    auto* l = c->add_criteria();
    l->set_name("latency_p99");
    l->set_estimate(NAN);  // Not enough yet: no bounds.
    l->set_lower(NAN);
    l->set_upper(NAN);
  }
  const std::string html = RolloutHtmlReport(r);
  EXPECT_THAT(html, HasSubstr("Rollout of credit:5 on credit@production"));
  EXPECT_THAT(html, HasSubstr("run:r1/deploy &lt;x&gt;"));  // Escaped.
  EXPECT_THAT(html, HasSubstr("<polygon class=\"band\""));
  // The band has a point above and below per check: 10.
  const size_t band = html.find("<polygon class=\"band\" points=\"");
  const size_t end = html.find('"', band + 32);
  const std::string points = html.substr(band + 32, end - band - 32);
  EXPECT_EQ(std::count(points.begin(), points.end(), ','), 10) << points;
  EXPECT_THAT(html, HasSubstr("class=\"bound\""));
  EXPECT_THAT(html, HasSubstr("latency_p99"));
  EXPECT_THAT(html, HasSubstr("–"));  // A NaN bound shown as a dash.
  EXPECT_EQ(html.find("nan"), std::string::npos);
  v1::Rollout none = r;
  none.clear_checks();
  EXPECT_THAT(RolloutHtmlReport(none), HasSubstr("No check yet."));
}

}  // namespace
}  // namespace mlpipe::monitor
