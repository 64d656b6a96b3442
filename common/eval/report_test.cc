// The HTML report: its structure, and that a real browser (headless
// Chromium, Debian's `chromium`) renders it with the plots and tables in the
// DOM and paints a screenshot.
#include "common/eval/report.h"

#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

#include "common/eval/gate.h"
#include "common/eval/metrics.h"
#include "common/eval/slices.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::eval {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::ModelEvaluation Binary(const std::string& name, double signal,
                           uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  Predictions p;
  p.task = v1::BINARY;
  p.classes = {"good", "bad"};
  SliceColumn home{"Home", {}};
  for (int i = 0; i < 2000; ++i) {
    double y = u(rng) < 0.3;
    p.y.push_back(y);
    p.scores.push_back(
        std::clamp(signal * y + (1 - signal) * u(rng), 0.0, 1.0));
    home.values.push_back(i % 3 == 0 ? "rent"
                                     : (i % 3 == 1 ? "owner" : "<other>"));
  }
  v1::ModelEvaluation m;
  m.set_model(name);
  m.set_algorithm("gbdt");
  auto metrics = Evaluate(p, {});
  EXPECT_TRUE(metrics.ok()) << metrics.status();
  *m.mutable_metrics() = *metrics;
  auto slices = Slice(p, {}, {home}, {{"Home"}}, 30);
  EXPECT_TRUE(slices.ok());
  for (auto& s : slices->slices) *m.add_slices() = s;
  for (auto& g : slices->gaps) *m.add_gaps() = g;
  return m;
}

v1::Evaluation Example() {
  v1::Evaluation e;
  e.set_id("ev-0123");
  e.set_split("sp-1");
  e.set_part("test");
  e.set_feature_set("fs-1");
  e.set_metric("auc");
  *e.add_candidates() = Binary("credit:4", 0.4, 1);
  *e.mutable_baseline() = Binary("credit:3", 0.3, 2);
  e.set_baseline_alias("production");
  Baseline base{"credit:3",
                {e.baseline().metrics().metrics().begin(),
                 e.baseline().metrics().metrics().end()}};
  *e.mutable_candidates(0)->mutable_verdict() =
      Judge({e.candidates(0).metrics().metrics().begin(),
             e.candidates(0).metrics().metrics().end()},
            &base, v1::GateSpec(), v1::BINARY);
  e.set_best_model("credit:4");
  e.set_blessed(e.candidates(0).verdict().blessed());
  return e;
}

TEST(EvalReportTest, HasEveryPartAndEscapes) {
  v1::Evaluation e = Example();
  e.mutable_candidates(0)->mutable_slices(0)->mutable_key(0)->set_value(
      "<script>alert(1)</script>");
  std::string html = HtmlReport(e);
  for (const char* id :
       {"id=\"summary\"", "id=\"metrics\"", "id=\"verdict-0\"", "id=\"roc-0\"",
        "id=\"pr-0\"", "id=\"calibration-0\"", "id=\"confusion-0\"",
        "id=\"slices-0\"", "id=\"gaps-0\"", "id=\"roc-1\""}) {
    EXPECT_THAT(html, HasSubstr(id));
  }
  EXPECT_THAT(html, HasSubstr("class=\"blessed\">Blessed"));
  EXPECT_THAT(html, HasSubstr("credit:3 (alias production)"));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;"));
  EXPECT_THAT(html, Not(HasSubstr("<script>")));
  EXPECT_THAT(html, Not(HasSubstr("http")));  // Self-contained.
}

TEST(EvalReportTest, ChromiumRendersPlotsAndTables) {
  ASSERT_EQ(std::system("command -v chromium > /dev/null"), 0)
      << "chromium is not installed (scripts/install-deps.sh test installs it)";
  testing::TempDir dir;
  const std::string html = dir.path() + "/report.html";
  testing::WriteFile(html, HtmlReport(Example()));
  const std::string flags =
      "chromium --headless --no-sandbox --disable-gpu --hide-scrollbars "
      "--user-data-dir=" +
      dir.path() + "/profile ";
  // The DOM after parsing: the plots are SVG elements with curves.
  std::string dom =
      testing::Shell(flags + "--dump-dom file://" + html + " 2>/dev/null");
  EXPECT_THAT(dom, HasSubstr("<svg id=\"roc-0\""));
  EXPECT_THAT(dom, HasSubstr("<svg id=\"pr-0\""));
  EXPECT_THAT(dom, HasSubstr("<svg id=\"calibration-0\""));
  EXPECT_THAT(dom, HasSubstr("<polyline class=\"curve\" points=\""));
  EXPECT_THAT(dom, HasSubstr("<table id=\"slices-0\">"));
  EXPECT_THAT(dom, HasSubstr("<table id=\"metrics\">"));
  // A screenshot: a PNG of the page, not blank (the plots add colour).
  const std::string png = dir.path() + "/report.png";
  testing::Shell(flags + "--window-size=1200,1600 --screenshot=" + png +
                 " file://" + html + " 2>/dev/null");
  std::ifstream in(png, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const std::string data = bytes.str();
  if (const char* keep = std::getenv("MLPIPE_KEEP_REPORT")) {
    testing::WriteFile(std::string(keep) + ".html", HtmlReport(Example()));
    testing::WriteFile(std::string(keep) + ".png", data);
  }
  ASSERT_GT(data.size(), 8u);
  EXPECT_EQ(data.substr(1, 3), "PNG");
  EXPECT_GT(data.size(), 20000u) << "the screenshot looks blank";
}

}  // namespace
}  // namespace mlpipe::eval
