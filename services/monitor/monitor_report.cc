#include "services/monitor/monitor_report.h"

#include <algorithm>
#include <cmath>
#include <map>
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

std::string Time(int64_t micros) {
  if (micros == 0) return "&ndash;";
  return HtmlEscape(absl::FormatTime("%Y-%m-%d %H:%M:%S UTC",
                                     absl::FromUnixMicros(micros),
                                     absl::UTCTimeZone()));
}

// Reference (grey) and current (blue) bars side by side per bin.
std::string Bars(const Histogram& h) {
  const int w = 520, ht = 160, left = 40, bottom = 40, top = 10;
  const size_t n = h.labels.size();
  double max = 0;
  for (double v : h.reference) max = std::max(max, v);
  for (double v : h.current) max = std::max(max, v);
  if (max <= 0) max = 1;
  const double slot =
      static_cast<double>(w - left - 10) / std::max<size_t>(n, 1);
  std::string svg =
      StrCat("<svg class=\"plot\" width=\"", w, "\" height=\"", ht + bottom,
             "\" viewBox=\"0 0 ", w, " ", ht + bottom, "\">");
  StrAppend(&svg, "<line class=\"axis\" x1=\"", left, "\" y1=\"", ht,
            "\" x2=\"", w - 10, "\" y2=\"", ht, "\"/>");
  StrAppend(&svg, "<text x=\"2\" y=\"", top + 8, "\">", HtmlNumber(max, 2),
            "</text><text x=\"2\" y=\"", ht, "\">0</text>");
  for (size_t i = 0; i < n; ++i) {
    const double x = left + i * slot;
    const double bw = std::max(1.0, slot / 2 - 1);
    auto bar = [&](double share, double dx, const char* cls) {
      const double hgt = (ht - top) * share / max;
      StrAppend(&svg, "<rect class=\"", cls, "\" x=\"", HtmlNumber(x + dx, 6),
                "\" y=\"", HtmlNumber(ht - hgt, 6), "\" width=\"",
                HtmlNumber(bw, 4), "\" height=\"", HtmlNumber(hgt, 6),
                "\"><title>", HtmlEscape(h.labels[i]), ": ",
                HtmlNumber(100 * share, 3), "%</title></rect>");
    };
    bar(h.reference[i], 1, "ref");
    bar(h.current[i], 1 + bw, "cur");
    // Every label when few, else about ten.
    if (n <= 12 || i % ((n + 9) / 10) == 0) {
      StrAppend(&svg, "<text x=\"", HtmlNumber(x + 1, 6), "\" y=\"",
                ht + 14 + (i % 2) * 12, "\">",
                HtmlEscape(h.labels[i].substr(0, 14)), "</text>");
    }
  }
  svg += "</svg>";
  return svg;
}

constexpr char kStyle[] = R"(
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
h3 { font-size: 1em; margin-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.drifted { color: #b3261e; font-weight: bold; } .ok { color: #0a7d28; }
.small { color: #888; }
.fields { display: flex; flex-wrap: wrap; gap: 1.5em; }
svg.plot { background: #fff; border: 1px solid #ddd; }
svg .axis { stroke: #444; stroke-width: 1; }
svg .ref { fill: #b8b8b8; } svg .cur { fill: #1f5fbf; }
svg text { font-size: 10px; fill: #444; }
.legend span { display: inline-block; width: 0.8em; height: 0.8em; margin: 0 0.3em 0 1em; }
)";

std::string DriftTable(const v1::DriftReport& d) {
  std::string h =
      "<table><tr><th class=\"text\">field</th><th class=\"text\">kind</th>"
      "<th class=\"text\">method</th><th>score</th><th>threshold</th>"
      "<th class=\"text\">drifted</th><th>KS</th><th>KS p</th>"
      "<th>Wasserstein / std</th><th>PSI</th><th>JS</th><th>&chi;&sup2;</th>"
      "<th>&chi;&sup2; p</th><th>missing</th><th>ref. missing</th>"
      "<th>out of range</th><th>unseen</th><th>values</th></tr>";
  for (const auto& f : d.fields()) {
    const bool num = f.kind() == v1::FieldProfile::NUMERIC;
    StrAppend(&h, "<tr><td class=\"text\">", HtmlEscape(f.name()),
              "</td><td class=\"text\">", num ? "number" : "category",
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
    StrAppend(&h, "<td>", f.count(), "</td></tr>");
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
  StrAppend(
      &h, "<table><tr><th class=\"text\">predictions</th><td>", r.predictions(),
      "</td></tr><tr><th class=\"text\">windows</th><td>", r.windows(),
      "</td></tr><tr><th class=\"text\">from</th><td>", Time(r.start_micros()),
      "</td></tr><tr><th class=\"text\">to</th><td>", Time(r.end_micros()),
      "</td></tr>");
  if (r.has_drift()) {
    StrAppend(
        &h, "<tr><th class=\"text\">reference rows</th><td>",
        r.drift().reference_rows(),
        "</td></tr><tr><th class=\"text\">drifted fields</th><td class=\"",
        r.drift().drifted_size() > 0 ? "drifted" : "ok", "\">",
        r.drift().drifted_size(), " of ", r.drift().fields_size(),
        "</td></tr>");
  }
  h += "</table>";
  if (!r.drift_error().empty())
    StrAppend(&h, "<p class=\"small\">No drift: ", HtmlEscape(r.drift_error()),
              "</p>");
}

// The serving latency table.
void AppendLatency(const v1::LatencySummary& l, std::string* out) {
  StrAppend(out,
            "<h2>Serving latency</h2><table><tr><th>requests</th>"
            "<th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th></tr>"
            "<tr><td>",
            l.count(), "</td><td>", HtmlNumber(1e3 * l.p50_seconds()),
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
              Time(a.time_micros()), "</td><td class=\"text\">",
              HtmlEscape(a.kind()), "</td><td class=\"text\">",
              HtmlEscape(a.message()), "</td><td class=\"text\">",
              HtmlEscape(a.action()), "</td></tr>");
  }
  h += "</table>";
}

// The drift table, then each field's reference and current distributions.
void AppendFieldDrift(const v1::MonitorReport& r, std::string* out) {
  std::string& h = *out;
  h += "<h2>Drift per field</h2>" + DriftTable(r.drift());
  h += "<p class=\"legend\"><span style=\"background:#b8b8b8\"></span>"
       "reference<span style=\"background:#1f5fbf\"></span>current</p>"
       "<div class=\"fields\">";
  for (const auto& f : r.drift().fields()) {
    auto hist =
        CompareHistogram(r.reference_profile(), r.current_profile(), f.name());
    if (!hist.ok()) continue;  // Profiles not included.
    StrAppend(&h, "<div><h3 class=\"", f.drifted() ? "drifted" : "", "\">",
              HtmlEscape(f.name()), " <span class=\"small\">", f.method(), " ",
              HtmlNumber(f.score(), 3), "</span></h3>", Bars(*hist), "</div>");
  }
  h += "</div>";
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
  Histogram h;
  if (r->kind() == v1::FieldProfile::NUMERIC) {
    auto rs = features::QuantileSketch::FromProto(r->values());
    if (!rs.ok()) return rs.status();
    auto cs = features::QuantileSketch::FromProto(c->values());
    if (!cs.ok()) return cs.status();
    double lo = INFINITY, hi = -INFINITY;
    for (const auto* f : {r, c}) {
      if (f->values().count() == 0) continue;  // min/max unset.
      lo = std::min(lo, f->min());
      hi = std::max(hi, f->max());
    }
    if (!std::isfinite(lo)) return h;  // No values on either side.
    if (hi <= lo) hi = lo + 1;
    std::vector<double> edges(bins + 1);
    for (int i = 0; i <= bins; ++i) edges[i] = lo + (hi - lo) * i / bins;
    std::vector<double> rc(bins), cc(bins);
    auto r_counts = rs->HistogramCounts(edges);
    auto c_counts = cs->HistogramCounts(edges);
    for (int i = 0; i < bins; ++i) {
      rc[i] = static_cast<double>(r_counts[i]);
      cc[i] = static_cast<double>(c_counts[i]);
      h.labels.push_back(HtmlNumber(edges[i], 3));
    }
    h.reference = Shares(rc);
    h.current = Shares(cc);
    return h;
  }
  std::vector<std::pair<uint64_t, std::string>> top;
  for (const auto& [v, n] : r->categories()) top.emplace_back(n, v);
  std::sort(top.rbegin(), top.rend());
  if (top.size() > static_cast<size_t>(bins)) top.resize(bins);
  std::vector<double> rc, cc;
  uint64_t r_rest = r->other(), c_rest = c->other();
  std::map<std::string, uint64_t> c_left(c->categories().begin(),
                                         c->categories().end());
  uint64_t r_kept = 0;
  for (const auto& [n, v] : top) {
    h.labels.push_back(v);
    rc.push_back(static_cast<double>(n));
    r_kept += n;
    auto it = c_left.find(v);
    cc.push_back(it == c_left.end() ? 0.0 : static_cast<double>(it->second));
    if (it != c_left.end()) c_left.erase(it);
  }
  uint64_t r_total = 0;
  for (const auto& [v, n] : r->categories()) r_total += n;
  r_rest += r_total - r_kept;
  for (const auto& [v, n] : c_left) c_rest += n;
  if (r_rest + c_rest > 0) {
    h.labels.push_back("(other)");
    rc.push_back(static_cast<double>(r_rest));
    cc.push_back(static_cast<double>(c_rest));
  }
  h.reference = Shares(rc);
  h.current = Shares(cc);
  return h;
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
