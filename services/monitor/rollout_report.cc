#include "services/monitor/rollout_report.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "common/util/html.h"
#include "common/util/strings.h"
#include "services/monitor/monitor_report.h"

namespace mlpipe::monitor {
namespace {

constexpr char kStyle[] = R"(
body { font-family: system-ui, sans-serif; margin: 1.5em auto; padding: 0 1em;
       max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.45em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.fail { color: #b3261e; font-weight: bold; } .pass { color: #0a7d28; }
svg.plot { background: #fff; border: 1px solid #ddd; max-width: 100%;
           height: auto; }
svg .axis { stroke: #444; stroke-width: 1; }
svg .band { fill: #1f5fbf; fill-opacity: 0.18; }
svg .est { stroke: #1f5fbf; stroke-width: 2; fill: none; }
svg .bound { stroke: #b3261e; stroke-dasharray: 5 4; stroke-width: 1.5; }
svg .zero { stroke: #888; stroke-width: 1; }
svg text { font-size: 11px; fill: #444; } svg text.y { text-anchor: end; }
)";

std::string Num(double v) {
  if (!std::isfinite(v)) return "–";
  return StrCat(std::round(v * 1e5) / 1e5);
}

// The criterion `name` of each check that has finite bounds, with its time.
struct Point {
  double t, estimate, lower, upper, bound;
};
std::vector<Point> Sequence(const v1::Rollout& r, const std::string& name) {
  std::vector<Point> out;
  for (const auto& c : r.checks()) {
    for (const auto& k : c.criteria()) {
      if (k.name() != name || !std::isfinite(k.lower()) ||
          !std::isfinite(k.upper()))
        continue;
      out.push_back({(c.time_micros() - r.started_micros()) / 1e6, k.estimate(),
                     k.lower(), k.upper(), k.bound()});
    }
  }
  return out;
}

// The confidence sequence over time: its band, the estimate, the tolerance
// (dashed) and zero.
std::string SequencePlot(const std::vector<Point>& pts) {
  const int w = 900, h = 320, left = 70, right = 20, top = 15, bottom = 40;
  double t1 = 1, lo = 0, hi = 0;
  for (const auto& p : pts) {
    t1 = std::max(t1, p.t);
    lo = std::min({lo, p.lower, p.bound});
    hi = std::max({hi, p.upper, p.bound});
  }
  const double pad = (hi - lo) * 0.05 + 1e-9;
  lo -= pad;
  hi += pad;
  auto x = [&](double t) { return left + (w - left - right) * t / t1; };
  auto y = [&](double v) {
    return top + (h - top - bottom) * (hi - v) / (hi - lo);
  };
  std::string svg = StrCat("<svg class=\"plot\" viewBox=\"0 0 ", w, " ", h,
                           "\" width=\"", w, "\" height=\"", h, "\">");
  std::string band = "<polygon class=\"band\" points=\"";
  for (const auto& p : pts) StrAppend(&band, x(p.t), ",", y(p.upper), " ");
  for (auto it = pts.rbegin(); it != pts.rend(); ++it)
    StrAppend(&band, x(it->t), ",", y(it->lower), " ");
  StrAppend(&svg, band, "\"/>");
  std::string est = "<polyline class=\"est\" points=\"";
  for (const auto& p : pts) StrAppend(&est, x(p.t), ",", y(p.estimate), " ");
  StrAppend(&svg, est, "\"/>");
  auto hline = [&](double v, const char* cls, const std::string& label) {
    StrAppend(&svg, "<line class=\"", cls, "\" x1=\"", left, "\" x2=\"",
              w - right, "\" y1=\"", y(v), "\" y2=\"", y(v), "\"/>",
              "<text class=\"y\" x=\"", left - 4, "\" y=\"", y(v) + 4, "\">",
              HtmlEscape(label), "</text>");
  };
  hline(0, "zero", "0");
  if (!pts.empty()) hline(pts.back().bound, "bound", Num(pts.back().bound));
  StrAppend(&svg, "<line class=\"axis\" x1=\"", left, "\" x2=\"", w - right,
            "\" y1=\"", h - bottom, "\" y2=\"", h - bottom, "\"/>",
            "<text x=\"", left, "\" y=\"", h - 10, "\">0 s</text>",
            "<text class=\"y\" x=\"", w - right, "\" y=\"", h - 10, "\">",
            Num(t1), " s since the start</text>", "<text class=\"y\" x=\"",
            left - 4, "\" y=\"", top + 10, "\">", Num(hi), "</text></svg>");
  return svg;
}

void AppendCriteria(const v1::RolloutCheck& c, std::string* out) {
  StrAppend(out,
            "<table><tr><th class=\"text\">criterion</th><th>canary − "
            "primary</th><th>lower</th><th>upper</th><th>tolerance</th>"
            "<th class=\"text\">verdict</th><th class=\"text\">why</th></tr>");
  for (const auto& k : c.criteria()) {
    StrAppend(out, "<tr><td class=\"text\">", HtmlEscape(k.name()), "</td><td>",
              Num(k.estimate()), "</td><td>", Num(k.lower()), "</td><td>",
              Num(k.upper()), "</td><td>", Num(k.bound()),
              "</td><td class=\"text ", HtmlEscape(k.verdict()), "\">",
              HtmlEscape(k.verdict()), "</td><td class=\"text\">",
              HtmlEscape(k.why()), "</td></tr>");
  }
  StrAppend(out, "</table><p>Prediction shift (PSI, canary vs primary): ",
            Num(c.prediction_shift_psi()), "</p>");
}

void AppendChecks(const v1::Rollout& r, std::string* out) {
  StrAppend(out,
            "<table><tr><th class=\"text\">time</th><th>canary share</th>"
            "<th class=\"text\">decision</th><th class=\"text\">action</th>"
            "<th class=\"text\">reason</th></tr>");
  const int first = std::max(0, r.checks_size() - 50);
  for (int i = r.checks_size() - 1; i >= first; --i) {
    const auto& c = r.checks(i);
    StrAppend(out, "<tr><td class=\"text\">", HtmlTime(c.time_micros()),
              "</td><td>", c.share(), "%</td><td class=\"text\">",
              HtmlEscape(c.decision()), "</td><td class=\"text\">",
              HtmlEscape(c.action()), "</td><td class=\"text\">",
              HtmlEscape(c.reason()), "</td></tr>");
  }
  StrAppend(out, "</table>");
}

}  // namespace

std::string RolloutHtmlReport(const v1::Rollout& r) {
  std::string out = StrCat(
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>Rollout ",
      HtmlEscape(r.alias()), "</title><style>", kStyle, "</style></head><body>",
      "<h1>Rollout of ", HtmlEscape(r.canary()), " on ", HtmlEscape(r.alias()),
      "</h1><p>Against ", HtmlEscape(r.primary()), ". State <b>",
      absl::AsciiStrToLower(v1::Rollout::State_Name(r.state())),
      "</b>, canary at ", r.share(), "% of the traffic. Started ",
      HtmlTime(r.started_micros()), " by ", HtmlEscape(r.started_by()),
      ".</p>");
  if (!r.reason().empty())
    StrAppend(&out, "<p>Why: ", HtmlEscape(r.reason()), "</p>");
  const auto& ce = r.canary_evidence();
  const auto& pe = r.primary_evidence();
  StrAppend(&out,
            "<table><tr><th class=\"text\">arm</th><th>requests</th>"
            "<th>errors</th><th>actuals</th></tr><tr><td class=\"text\">"
            "canary</td><td>",
            ce.requests(), "</td><td>", ce.errors(), "</td><td>",
            ce.performance().count(),
            "</td></tr><tr><td class=\"text\">"
            "primary</td><td>",
            pe.requests(), "</td><td>", pe.errors(), "</td><td>",
            pe.performance().count(), "</td></tr></table>");
  if (r.checks().empty()) {
    StrAppend(&out, "<p>No check yet.</p></body></html>");
    return out;
  }
  const v1::RolloutCheck& last = *r.checks().rbegin();
  const std::string metric =
      last.criteria().empty() ? "" : last.criteria(0).name();
  StrAppend(&out, "<h2>", HtmlEscape(metric),
            ": canary − primary, with its always-valid confidence sequence"
            "</h2><p>The band covers the true difference at every check at "
            "once with the plan's confidence; the canary is rolled back once "
            "it lies wholly below the dashed tolerance, and advances once it "
            "lies wholly above it (docs/canary.md).</p>",
            SequencePlot(Sequence(r, metric)), "<h2>Last check, ",
            HtmlTime(last.time_micros()), ": ", HtmlEscape(last.decision()),
            "</h2>");
  AppendCriteria(last, &out);
  StrAppend(&out, "<h2>Checks, newest first</h2>");
  AppendChecks(r, &out);
  StrAppend(&out, "</body></html>");
  return out;
}

}  // namespace mlpipe::monitor
