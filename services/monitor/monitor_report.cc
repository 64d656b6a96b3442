#include "services/monitor/monitor_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "common/features/sketches.h"
#include "common/util/html.h"
#include "common/util/strings.h"

namespace mlpipe::monitor {
namespace {

const v1::FieldProfile* Find(const v1::Profile& p, const std::string& name) {
  for (const auto& f : p.fields())
    if (f.name() == name) return &f;
  return nullptr;
}

std::vector<double> Shares(const std::vector<double>& counts) {
  double total = 0;
  for (double c : counts) total += c;
  std::vector<double> out(counts.size(), 0.0);
  if (total > 0)
    for (size_t i = 0; i < counts.size(); ++i) out[i] = counts[i] / total;
  return out;
}

}  // namespace

std::string HtmlTime(int64_t micros) {
  if (micros == 0) return "&ndash;";
  return HtmlEscape(absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                     absl::FromUnixMicros(micros),
                                     absl::UTCTimeZone()));
}

namespace {

// `v` with `decimals` decimals and thousands separators: 12,500, 0.25.
std::string TickText(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, std::abs(v));
  std::string digits = buf;
  const size_t dot = digits.find('.');
  const size_t whole = dot == std::string::npos ? digits.size() : dot;
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && i < whole && (whole - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  const bool zero = out.find_first_not_of("0.,") == std::string::npos;
  return (v < 0 && !zero ? "-" : "") + out;
}

// A count with thousands separators: 12,500.
std::string Count(int64_t n) { return TickText(static_cast<double>(n), 0); }

// Decimals that tell apart ticks `step` apart (2.5 needs one, 0.05 two).
int TickDecimals(double step) {
  int d = 0;
  while (d < 12 &&
         std::abs(step * std::pow(10, d) - std::round(step * std::pow(10, d))) >
             1e-6 * step * std::pow(10, d))
    ++d;
  return d;
}

// Every how many of `bins` bins' edges an axis has a tick: at most 7.
int TickEvery(int bins) { return std::max(1, (bins + 5) / 6); }

// A tick of an axis whose ticks are `step` apart: 12,500 or 0.25; past a
// billion 1.76e+15 with the digits that tell
// neighbours apart.
std::string Tick(double v, double step) {
  if (!std::isfinite(v) || !std::isfinite(step) || step <= 0) return "&ndash;";
  if (std::abs(v) < 1e9 && step >= 1e-6) return TickText(v, TickDecimals(step));
  if (v == 0) return "0";
  const int digits = static_cast<int>(
      std::clamp(std::ceil(std::log10(std::abs(v) / step)), 1.0, 15.0));
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*e", digits, v);
  std::string out = buf;  // 9.7800e+14 -> 9.78e+14.
  const size_t e = out.find('e');
  if (e == std::string::npos) return out;
  size_t keep = out.find_last_not_of('0', e - 1);
  if (out[keep] == '.') --keep;
  return out.substr(0, keep + 1) + out.substr(e);
}

// An edge of a time axis whose ticks are `step` apart: a date, with the
// time of day when the step is shorter than a day (UTC).
std::string TimeTick(double micros, double step) {
  if (!std::isfinite(micros)) return "&ndash;";
  const char* format = step >= 86400e6 ? "%Y-%m-%d"
                       : step >= 60e6  ? "%Y-%m-%d %H:%M"
                                       : "%Y-%m-%d %H:%M:%S";
  return absl::FormatTime(format,
                          absl::FromUnixMicros(static_cast<int64_t>(micros)),
                          absl::UTCTimeZone());
}

// An edge of `h`'s axis: a date or a number.
std::string EdgeText(const Histogram& h, double e, double step) {
  return h.time ? TimeTick(e, step) : Tick(e, step);
}

// The plot's frame: an SVG of `w` x `h` (scaled down to fit its box), the
// y axis from 0 to `max` share, as percentages.
std::string PlotStart(int w, int h, int plot_h, int left, int right,
                      double max) {
  return StrCat("<svg class=\"plot\" width=\"", w, "\" height=\"", h,
                "\" viewBox=\"0 0 ", w, " ", h, "\"><line class=\"axis\" x1=\"",
                left, "\" y1=\"", plot_h, "\" x2=\"", w - right, "\" y2=\"",
                plot_h, "\"/><text class=\"y\" x=\"", left - 4, "\" y=\"18\">",
                TickText(100 * max, max < 0.1 ? 1 : 0),
                "%</text><text class=\"y\" x=\"", left - 4, "\" y=\"", plot_h,
                "\">0</text>");
}

// One bin's two bars, reference (grey) and current (blue), with tooltips.
void AppendBars(const Histogram& h, size_t i, double x, double slot, int plot_h,
                double max, std::string* svg) {
  constexpr int kTop = 14;
  const double bw = std::max(1.0, slot / 2 - 1);
  auto bar = [&](double share, double dx, const char* cls, const char* side) {
    const double hgt = (plot_h - kTop) * share / max;
    StrAppend(svg, "<rect class=\"", cls, "\" x=\"", HtmlNumber(x + dx, 6),
              "\" y=\"", HtmlNumber(plot_h - hgt, 6), "\" width=\"",
              HtmlNumber(bw, 4), "\" height=\"", HtmlNumber(hgt, 6),
              "\"><title>", HtmlEscape(h.labels[i]), " ", side, ": ",
              HtmlNumber(100 * share, 3), "%</title></rect>");
  };
  bar(h.reference[i], 1, "ref", "reference");
  bar(h.current[i], 1 + bw, "cur", "current");
}

// Reference and current bars per bin. Numbers: the bins' edges on the x
// axis, at most 7 of them, as round numbers with thousands separators.
// Categories: each bar's full name, slanted (long names are cut at 40
// characters, whole in the tooltip); one the reference never saw in red.
std::string Bars(const Histogram& h) {
  const size_t n = h.labels.size();
  const bool numeric = !h.edges.empty();
  size_t longest = 0;
  for (const auto& l : h.labels) longest = std::max(longest, l.size());
  longest = std::min<size_t>(longest, 40);
  const int w = 560, plot_h = 170, left = 46, right = 30;
  // Slanted names need room below the axis: ~4 px down per character.
  const int bottom = numeric ? 28 : 20 + static_cast<int>(4 * longest);
  double max = 0;
  for (double v : h.reference) max = std::max(max, v);
  for (double v : h.current) max = std::max(max, v);
  if (max <= 0) max = 1;
  const double slot =
      static_cast<double>(w - left - right) / std::max<size_t>(n, 1);
  std::string svg = PlotStart(w, plot_h + bottom, plot_h, left, right, max);
  for (size_t i = 0; i < n; ++i) {
    const double x = left + i * slot;
    AppendBars(h, i, x, slot, plot_h, max, &svg);
    if (numeric) continue;
    std::string name = h.labels[i];
    if (name.size() > 40) name = name.substr(0, 39) + "\u2026";
    const double cx = x + slot / 2;
    StrAppend(&svg, "<text class=\"cat", h.unseen[i] ? " unseen" : "",
              "\" transform=\"translate(", HtmlNumber(cx, 6), " ", plot_h + 10,
              ") rotate(-40)\">", HtmlEscape(name), h.unseen[i] ? " (new)" : "",
              "<title>", HtmlEscape(h.labels[i]), "</title></text>");
  }
  if (numeric) {
    const double step = h.edges.size() > 1 ? h.edges[1] - h.edges[0] : 1;
    std::vector<std::string> ticks;
    size_t widest = 0;
    for (double e : h.edges) {
      ticks.push_back(EdgeText(h, e, step));
      widest = std::max(widest, ticks.back().size());
    }
    // Wide labels (1.76e+15) need more room than one per `every` bins.
    size_t every = TickEvery(static_cast<int>(h.edges.size()) - 1);
    while (every * slot < 6.5 * widest + 10 && every < h.edges.size())
      every *= 2;
    for (size_t i = 0; i < h.edges.size(); i += every) {
      const double x = left + i * slot;
      StrAppend(&svg, "<line class=\"axis\" x1=\"", HtmlNumber(x, 6),
                "\" y1=\"", plot_h, "\" x2=\"", HtmlNumber(x, 6), "\" y2=\"",
                plot_h + 4, "\"/>");
      // The last label ends at its tick (the plot's edge is near), so it
      // needs half a label more room from the one before, or goes unsaid.
      const bool last = i + every >= h.edges.size() && i > 0;
      if (last && every * slot < 1.5 * 6.5 * widest + 10) continue;
      StrAppend(&svg, "<text class=\"tick", last ? " last" : "", "\" x=\"",
                HtmlNumber(x, 6), "\" y=\"", plot_h + 16, "\">", ticks[i],
                "</text>");
    }
  }
  svg += "</svg>";
  return svg;
}

constexpr char kStyle[] = R"(
body { font-family: system-ui, sans-serif; margin: 1.5em auto; padding: 0 1em;
       max-width: 1400px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
h3 { font-size: 1em; margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em;
        display: block; overflow-x: auto; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.45em; text-align: right;
         white-space: nowrap; }
th { background: #f3f3f3; white-space: normal; }
td.text, th.text { text-align: left; }
td.text { white-space: normal; }
.drifted { color: #b3261e; font-weight: bold; } .ok { color: #0a7d28; }
.small { color: #888; font-weight: normal; }
.summary { font-size: 1.05em; }
.fields { display: grid; gap: 1.5em;
          grid-template-columns: repeat(auto-fill, minmax(min(100%, 480px), 1fr)); }
svg.plot { background: #fff; border: 1px solid #ddd; max-width: 100%;
           height: auto; }
svg .axis { stroke: #444; stroke-width: 1; }
svg .ref { fill: #b8b8b8; } svg .cur { fill: #1f5fbf; }
svg text { font-size: 11px; fill: #444; }
svg text.y { text-anchor: end; } svg text.tick { text-anchor: middle; }
svg text.tick.last { text-anchor: end; }
svg text.cat { text-anchor: end; } svg text.unseen { fill: #b3261e; }
.legend span { display: inline-block; width: 0.8em; height: 0.8em; margin: 0 0.3em 0 1em; }
)";

// Drifted fields first, then by how far past (or short of) its threshold
// each one's score is: the fields to look at, at the top.
std::vector<const v1::FieldDrift*> ByConcern(const v1::DriftReport& d) {
  std::vector<const v1::FieldDrift*> out;
  for (const auto& f : d.fields()) out.push_back(&f);
  auto ratio = [](const v1::FieldDrift* f) {
    return f->threshold() > 0 ? f->score() / f->threshold() : f->score();
  };
  std::stable_sort(out.begin(), out.end(), [&](const auto* a, const auto* b) {
    if (a->drifted() != b->drifted()) return a->drifted();
    return ratio(a) > ratio(b);
  });
  return out;
}

// `reference` (may be null) tells timestamp fields, shown as "time".
std::string DriftTable(const v1::DriftReport& d,
                       const v1::Profile* reference = nullptr) {
  std::set<std::string> times;
  if (reference != nullptr) {
    for (const auto& f : reference->fields())
      if (f.timestamp()) times.insert(f.name());
  }
  std::string h =
      "<table><tr><th class=\"text\">field</th><th class=\"text\">kind</th>"
      "<th class=\"text\">method</th><th>score</th><th>threshold</th>"
      "<th class=\"text\">drifted</th><th>KS</th><th>KS p</th>"
      "<th>Wasserstein / std</th><th>PSI</th><th>JS</th><th>&chi;&sup2;</th>"
      "<th>&chi;&sup2; p</th><th>missing</th><th>ref. missing</th>"
      "<th>out of range</th><th>unseen</th><th>values</th></tr>";
  for (const v1::FieldDrift* field : ByConcern(d)) {
    const v1::FieldDrift& f = *field;
    const bool num = f.kind() == v1::FieldProfile::NUMERIC;
    StrAppend(&h, "<tr><td class=\"text\">", HtmlEscape(f.name()),
              "</td><td class=\"text\">",
              times.contains(f.name()) ? "time"
              : num                    ? "number"
                                       : "category",
              "</td><td class=\"text\">", f.method(), "</td><td>",
              HtmlNumber(f.score()), "</td><td>", HtmlNumber(f.threshold()),
              "</td><td class=\"text ", f.drifted() ? "drifted" : "ok", "\">",
              f.drifted() ? "yes" : "no", "</td>");
    auto cell = [&](bool show, double v) {
      StrAppend(&h, "<td>", show ? HtmlNumber(v) : std::string(""), "</td>");
    };
    cell(num, f.ks());
    cell(num, f.ks_p_value());
    cell(num, f.wasserstein());
    cell(true, f.psi());
    cell(true, f.jensenshannon());
    cell(!num, f.chi2());
    cell(!num, f.chi2_p_value());
    cell(true, f.missing_rate());
    cell(true, f.reference_missing_rate());
    cell(num, f.out_of_range_rate());
    cell(!num, f.unseen_rate());
    StrAppend(&h, "<td>", Count(f.count()), "</td></tr>");
  }
  return h + "</table>";
}

// The page's head and the summary table: predictions, windows, drift counts.
void AppendSummary(const v1::MonitorReport& r, std::string* out) {
  std::string& h = *out;
  StrAppend(&h,
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mlpipe "
            "monitoring: ",
            HtmlEscape(r.model_version()), "</title><style>", kStyle,
            "</style></head><body><h1>Monitoring report: ",
            HtmlEscape(r.model_version()), "</h1>");
  StrAppend(&h, "<table><tr><th class=\"text\">predictions</th><td>",
            Count(r.predictions()),
            "</td></tr><tr><th class=\"text\">windows</th><td>",
            Count(r.windows()),
            "</td></tr><tr><th class=\"text\">from</th><td>",
            HtmlTime(r.start_micros()),
            "</td></tr><tr><th class=\"text\">to</th><td>",
            HtmlTime(r.end_micros()), "</td></tr>");
  if (r.has_drift()) {
    StrAppend(
        &h, "<tr><th class=\"text\">reference rows</th><td>",
        Count(r.drift().reference_rows()),
        "</td></tr><tr><th class=\"text\">drifted fields</th><td class=\"",
        r.drift().drifted_size() > 0 ? "drifted" : "ok", "\">",
        r.drift().drifted_size(), " of ", r.drift().fields_size(),
        "</td></tr>");
  }
  h += "</table>";
  if (!r.drift_error().empty())
    StrAppend(&h, "<p class=\"small\">No drift: ", HtmlEscape(r.drift_error()),
              "</p>");
  if (!r.has_drift()) return;
  // In a sentence: which fields drifted, the worst first.
  std::string drifted;
  for (const v1::FieldDrift* f : ByConcern(r.drift())) {
    if (!f->drifted()) break;
    StrAppend(&drifted, drifted.empty() ? "" : ", ", "<b>",
              HtmlEscape(f->name()), "</b> (", f->method(), " ",
              HtmlNumber(f->score(), 3), ")");
  }
  StrAppend(
      &h, "<p class=\"summary ", drifted.empty() ? "ok" : "drifted", "\">",
      drifted.empty()
          ? StrCat("No field drifted (", r.drift().fields_size(), " compared).")
          : StrCat(r.drift().drifted_size(), " of ", r.drift().fields_size(),
                   " fields drifted: ", drifted, "."),
      "</p>");
}

// The serving latency table.
void AppendLatency(const v1::LatencySummary& l, std::string* out) {
  StrAppend(out,
            "<h2>Serving latency</h2><table><tr><th>requests</th>"
            "<th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>"
            "<tr><td>",
            Count(l.count()), "</td><td>", HtmlNumber(1e3 * l.p50_seconds()),
            "</td><td>", HtmlNumber(1e3 * l.p90_seconds()), "</td><td>",
            HtmlNumber(1e3 * l.p99_seconds()), "</td><td>",
            HtmlNumber(1e3 * l.max_seconds()), "</td></tr></table>");
}

// The performance table: the version's task's metrics (all if unknown).
void AppendPerformance(const v1::MonitorReport& r, std::string* out) {
  std::string& h = *out;
  const auto& p = r.performance();
  const bool regression = r.task() == v1::REGRESSION;
  const bool classes = r.task() == v1::BINARY || r.task() == v1::MULTICLASS;
  std::vector<std::pair<std::string, double>> shown = {
      {"actuals", static_cast<double>(p.count())}};
  if (!regression) shown.push_back({"accuracy", p.accuracy()});
  if (!regression && r.task() != v1::MULTICLASS)
    shown.push_back({"AUC", p.auc()});
  if (!classes) {
    shown.push_back({"RMSE", p.rmse()});
    shown.push_back({"MAE", p.mae()});
    shown.push_back({"R&sup2;", p.r2()});
  }
  h += "<h2>Performance from actuals</h2><table><tr>";
  for (const auto& [name, v] : shown) StrAppend(&h, "<th>", name, "</th>");
  h += "</tr><tr>";
  for (const auto& [name, v] : shown)
    StrAppend(&h, "<td>", HtmlNumber(v, name == "actuals" ? 12 : 4), "</td>");
  h += "</tr></table>";
}

// The performance policy's bounds, and what breaking them does.
void AppendPolicy(const v1::MonitorPolicy& q, std::string* out) {
  std::string bounds;
  if (q.has_min_accuracy())
    StrAppend(&bounds, " accuracy &ge; ", HtmlNumber(q.min_accuracy()));
  if (q.has_min_auc())
    StrAppend(&bounds, " AUC &ge; ", HtmlNumber(q.min_auc()));
  if (q.has_max_rmse())
    StrAppend(&bounds, " RMSE &le; ", HtmlNumber(q.max_rmse()));
  if (q.has_min_r2())
    StrAppend(&bounds, " R&sup2; &ge; ", HtmlNumber(q.min_r2()));
  StrAppend(out, "<p>Policy:", bounds, " after ", q.min_actuals(), " actuals",
            q.rollback() ? ", else roll back '" : "",
            q.rollback() ? HtmlEscape(q.alias()) + "'" : "", "</p>");
}

// The alerts table.
void AppendAlerts(const v1::MonitorReport& r, std::string* out) {
  std::string& h = *out;
  h += "<h2>Alerts</h2><table><tr><th>id</th><th class=\"text\">time</th>"
       "<th class=\"text\">kind</th><th class=\"text\">message</th>"
       "<th class=\"text\">action</th></tr>";
  for (const auto& a : r.alerts()) {
    StrAppend(&h, "<tr><td>", a.id(), "</td><td class=\"text\">",
              HtmlTime(a.time_micros()), "</td><td class=\"text\">",
              HtmlEscape(a.kind()), "</td><td class=\"text\">",
              HtmlEscape(a.message()), "</td><td class=\"text\">",
              HtmlEscape(a.action()), "</td></tr>");
  }
  h += "</table>";
}

// The drift table, then each field's reference and current distributions.
void AppendFieldDrift(const v1::MonitorReport& r, std::string* out) {
  std::string& h = *out;
  h += "<h2>Drift per field</h2>" +
       DriftTable(r.drift(), &r.reference_profile());
  h += "<p class=\"legend\"><span style=\"background:#b8b8b8\"></span>"
       "reference<span style=\"background:#1f5fbf\"></span>current</p>"
       "<div class=\"fields\">";
  for (const v1::FieldDrift* f : ByConcern(r.drift())) {
    auto hist =
        CompareHistogram(r.reference_profile(), r.current_profile(), f->name());
    if (!hist.ok()) continue;  // Profiles not included.
    StrAppend(&h, "<div><h3 class=\"", f->drifted() ? "drifted" : "", "\">",
              HtmlEscape(f->name()), " <span class=\"small\">", f->method(),
              " ", HtmlNumber(f->score(), 3), "</span></h3>", Bars(*hist),
              "</div>");
  }
  h += "</div>";
}

// A round step for about `bins` bins over `span`: 1, 2, 2.5 or 5 times a
// power of ten.
double NiceStep(double span, int bins) {
  const double raw = span / std::max(bins, 1);
  const double mag = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0}) {
    if (m * mag >= raw * (1 - 1e-9)) return m * mag;
  }
  return 10 * mag;
}

// A step for about `bins` bins over `span` microseconds of time: a round
// number of seconds, minutes, hours, days, weeks or (about) months, years.
double TimeStep(double span, int bins) {
  constexpr double kS = 1e6, kM = 60 * kS, kH = 60 * kM, kD = 24 * kH;
  const double raw = span / std::max(bins, 1);
  for (double step :
       {kS,      5 * kS,  15 * kS, 30 * kS, kM,       5 * kM,  15 * kM,
        30 * kM, kH,      3 * kH,  6 * kH,  12 * kH,  kD,      2 * kD,
        7 * kD,  14 * kD, 30 * kD, 91 * kD, 182 * kD, 365 * kD}) {
    if (step >= raw) return step;
  }
  return 365 * kD * NiceStep(raw / (365 * kD), 1);
}

absl::StatusOr<Histogram> NumericBins(const v1::FieldProfile& r,
                                      const v1::FieldProfile& c, int bins) {
  Histogram h;
  auto rs = features::QuantileSketch::FromProto(r.values());
  if (!rs.ok()) return rs.status();
  auto cs = features::QuantileSketch::FromProto(c.values());
  if (!cs.ok()) return cs.status();
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* f : {&r, &c}) {
    if (f->values().count() == 0) continue;  // min/max unset.
    lo = std::min(lo, f->min());
    hi = std::max(hi, f->max());
  }
  if (!std::isfinite(lo)) return h;  // No values on either side.
  // Ranges past what a double's arithmetic holds (|x| near 1e308) are
  // drawn on plain equal bins.
  const double span = hi - lo;
  h.time = r.timestamp() || c.timestamp();
  double step = h.time ? TimeStep(span > 0 ? span : 1e6, bins)
                       : NiceStep(span > 0 ? span : 1, bins);
  // Weeks start on Mondays (1970-01-05), other steps at the epoch.
  const double origin =
      h.time && std::fmod(step, 7 * 86400e6) == 0 ? 4 * 86400e6 : 0;
  double first = std::floor((lo - origin) / step) * step + origin;
  if (first > lo) first -= step;  // Rounding: the minimum inside bin 0.
  const bool plain =
      !std::isfinite(span) || !std::isfinite(first + (bins + 12) * step);
  int n = bins;
  if (plain) {
    step = hi / bins - lo / bins;
    first = lo;
  } else {
    n = static_cast<int>(std::ceil((hi - first) / step * (1 - 1e-12)));
    if (first + n * step <= hi) ++n;  // The maximum inside the last bin.
    n = std::clamp(n, 1, 2 * bins + 2);
    // Empty bins to a multiple of the ticks' spacing: the axis ends on one.
    const int every = TickEvery(n);
    n = (n + every - 1) / every * every;
  }
  for (int i = 0; i <= n; ++i) {
    // Plain: as a weighted mean, whose terms cannot overflow.
    const double t = static_cast<double>(i) / n;
    h.edges.push_back(plain ? lo * (1 - t) + hi * t : first + i * step);
  }
  auto r_counts = rs->HistogramCounts(h.edges);
  auto c_counts = cs->HistogramCounts(h.edges);
  std::vector<double> rc(n), cc(n);
  for (int i = 0; i < n; ++i) {
    rc[i] = static_cast<double>(r_counts[i]);
    cc[i] = static_cast<double>(c_counts[i]);
    h.labels.push_back(StrCat("[", EdgeText(h, h.edges[i], step), ", ",
                              EdgeText(h, h.edges[i + 1], step), ")"));
  }
  h.reference = Shares(rc);
  h.current = Shares(cc);
  return h;
}

// Categories by the larger of their two shares, up to `bins`; the rest as
// "(other)".
Histogram CategoryBins(const v1::FieldProfile& r, const v1::FieldProfile& c,
                       int bins) {
  double r_total = static_cast<double>(r.other());
  double c_total = static_cast<double>(c.other());
  for (const auto& [v, n] : r.categories()) r_total += n;
  for (const auto& [v, n] : c.categories()) c_total += n;
  auto share = [](const auto& map, const std::string& v, double total) {
    auto it = map.find(v);
    return it == map.end() || total <= 0 ? 0.0 : it->second / total;
  };
  struct Cat {
    std::string name;
    double ref, cur;
  };
  std::vector<Cat> cats;
  for (const auto& [v, n] : r.categories())
    cats.push_back({v, share(r.categories(), v, r_total),
                    share(c.categories(), v, c_total)});
  for (const auto& [v, n] : c.categories()) {
    if (!r.categories().contains(v))
      cats.push_back({v, 0.0, share(c.categories(), v, c_total)});
  }
  std::sort(cats.begin(), cats.end(), [](const Cat& a, const Cat& b) {
    const double ma = std::max(a.ref, a.cur), mb = std::max(b.ref, b.cur);
    return ma != mb ? ma > mb : a.name < b.name;
  });
  Histogram h;
  double r_kept = 0, c_kept = 0;
  for (size_t i = 0; i < cats.size() && i < static_cast<size_t>(bins); ++i) {
    h.labels.push_back(cats[i].name);
    h.reference.push_back(cats[i].ref);
    h.current.push_back(cats[i].cur);
    // New only if the reference counted every category by name (past its
    // cap it counts the rest as "other").
    h.unseen.push_back(r.other() == 0 &&
                       !r.categories().contains(cats[i].name));
    r_kept += cats[i].ref;
    c_kept += cats[i].cur;
  }
  if (r_kept < 1 - 1e-12 || c_kept < 1 - 1e-12) {
    h.labels.push_back("(other)");
    h.reference.push_back(r_total > 0 ? std::max(0.0, 1 - r_kept) : 0.0);
    h.current.push_back(c_total > 0 ? std::max(0.0, 1 - c_kept) : 0.0);
    h.unseen.push_back(false);
  }
  return h;
}

}  // namespace

absl::StatusOr<Histogram> CompareHistogram(const v1::Profile& reference,
                                           const v1::Profile& current,
                                           const std::string& field, int bins) {
  const v1::FieldProfile* r = Find(reference, field);
  const v1::FieldProfile* c = Find(current, field);
  if (r == nullptr || c == nullptr)
    return absl::FailedPreconditionError(
        StrCat("field '", field, "' is not in both profiles"));
  if (r->kind() == v1::FieldProfile::NUMERIC) return NumericBins(*r, *c, bins);
  return CategoryBins(*r, *c, bins);
}

std::string MonitorHtmlReport(const v1::MonitorReport& r) {
  std::string h;
  AppendSummary(r, &h);
  if (r.has_latency()) AppendLatency(r.latency(), &h);
  if (r.has_performance()) {
    AppendPerformance(r, &h);
    if (r.has_policy()) AppendPolicy(r.policy(), &h);
  }
  if (r.target_drift().fields_size() > 0) {
    h += "<h2>Target drift (actuals vs training labels)</h2>";
    h += DriftTable(r.target_drift());
  }
  if (r.alerts_size() > 0) AppendAlerts(r, &h);
  if (r.has_drift()) AppendFieldDrift(r, &h);
  h += "</body></html>\n";
  return h;
}

}  // namespace mlpipe::monitor
