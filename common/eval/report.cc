#include "common/eval/report.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include "common/eval/metrics.h"
#include "common/util/html.h"
#include "common/util/strings.h"

namespace mlpipe::eval {
namespace {

std::string Escape(const std::string& s) { return HtmlEscape(s); }
std::string Num(double v, int digits = 4) { return HtmlNumber(v, digits); }

constexpr char kStyle[] = R"(
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
h3 { font-size: 1em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
.blessed { color: #0a7d28; font-weight: bold; }
.rejected { color: #b3261e; font-weight: bold; }
.small { color: #888; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
svg.plot { background: #fff; border: 1px solid #ddd; }
svg .axis { stroke: #444; stroke-width: 1; }
svg .grid { stroke: #eee; stroke-width: 1; }
svg .ref { stroke: #aaa; stroke-dasharray: 4 3; fill: none; }
svg .curve { stroke: #1f5fbf; stroke-width: 2; fill: none; }
svg .dot { fill: #1f5fbf; }
svg text { font-size: 11px; fill: #444; }
)";

// A unit-square plot (both axes 0..1) of a line, or dots for calibration.
std::string Plot(const std::string& id, const std::string& title,
                 const std::string& xlabel, const std::string& ylabel,
                 const std::vector<double>& x, const std::vector<double>& y,
                 bool diagonal, bool dots) {
  const double size = 300, left = 45, top = 25, inner = 240;
  auto px = [&](double v) { return left + v * inner; };
  auto py = [&](double v) { return top + (1 - v) * inner; };
  std::string s = StrCat("<svg id=\"", id, "\" class=\"plot\" width=\"", size,
                         "\" height=\"", size + 10,
                         "\" viewBox=\"0 0 300 310\" role=\"img\">");
  StrAppend(&s, "<title>", Escape(title), "</title>");
  StrAppend(&s, "<text x=\"150\" y=\"16\" text-anchor=\"middle\">",
            Escape(title), "</text>");
  for (double t : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    StrAppend(&s, "<line class=\"grid\" x1=\"", px(t), "\" y1=\"", py(0),
              "\" x2=\"", px(t), "\" y2=\"", py(1), "\"/>");
    StrAppend(&s, "<line class=\"grid\" x1=\"", px(0), "\" y1=\"", py(t),
              "\" x2=\"", px(1), "\" y2=\"", py(t), "\"/>");
    StrAppend(&s, "<text x=\"", px(t), "\" y=\"", py(0) + 14,
              "\" text-anchor=\"middle\">", Num(t, 2), "</text>");
    StrAppend(&s, "<text x=\"", px(0) - 6, "\" y=\"", py(t) + 4,
              "\" text-anchor=\"end\">", Num(t, 2), "</text>");
  }
  StrAppend(&s, "<line class=\"axis\" x1=\"", px(0), "\" y1=\"", py(0),
            "\" x2=\"", px(1), "\" y2=\"", py(0), "\"/>");
  StrAppend(&s, "<line class=\"axis\" x1=\"", px(0), "\" y1=\"", py(0),
            "\" x2=\"", px(0), "\" y2=\"", py(1), "\"/>");
  StrAppend(&s, "<text x=\"", px(0.5), "\" y=\"", py(0) + 30,
            "\" text-anchor=\"middle\">", Escape(xlabel), "</text>");
  StrAppend(&s, "<text transform=\"translate(12 ", py(0.5),
            ") rotate(-90)\" text-anchor=\"middle\">", Escape(ylabel),
            "</text>");
  if (diagonal) {
    StrAppend(&s, "<line class=\"ref\" x1=\"", px(0), "\" y1=\"", py(0),
              "\" x2=\"", px(1), "\" y2=\"", py(1), "\"/>");
  }
  std::string points;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) continue;
    char buf[48];
    std::snprintf(buf, sizeof(buf), "%.1f,%.1f ", px(x[i]), py(y[i]));
    points += buf;
    if (dots) {
      std::snprintf(buf, sizeof(buf), "%.1f", px(x[i]));
      StrAppend(&s, "<circle class=\"dot\" cx=\"", buf, "\" cy=\"");
      std::snprintf(buf, sizeof(buf), "%.1f", py(y[i]));
      StrAppend(&s, buf, "\" r=\"3\"/>");
    }
  }
  StrAppend(&s, "<polyline class=\"curve\" points=\"", points, "\"/>");
  s += "</svg>";
  return s;
}

std::string ModelName(const v1::ModelEvaluation& m) {
  return m.model().empty() ? "(unnamed)" : m.model();
}

std::string Confusion(const std::string& id, const v1::ConfusionMatrix& c,
                      const std::string& caption) {
  const int k = c.labels_size();
  if (k == 0 || c.counts_size() != k * k) return "";
  std::string s = StrCat("<table id=\"", id, "\"><caption>", Escape(caption),
                         "</caption><tr><th class=\"text\">actual \\ "
                         "predicted</th>");
  for (const auto& l : c.labels()) StrAppend(&s, "<th>", Escape(l), "</th>");
  s += "</tr>";
  for (int a = 0; a < k; ++a) {
    StrAppend(&s, "<tr><th class=\"text\">", Escape(c.labels(a)), "</th>");
    for (int p = 0; p < k; ++p)
      StrAppend(&s, "<td>", c.counts(a * k + p), "</td>");
    s += "</tr>";
  }
  return s + "</table>";
}

std::string SliceKeyText(
    const google::protobuf::RepeatedPtrField<v1::SliceKey>& key) {
  std::string s;
  for (const auto& k : key)
    StrAppend(&s, s.empty() ? "" : ", ", k.column(), "=", k.value());
  return s;
}

std::string ModelSection(const v1::ModelEvaluation& m, int i,
                         const std::string& role) {
  const auto& e = m.metrics();
  std::string s =
      StrCat("<h2>", Escape(role), ": ", Escape(ModelName(m)),
             m.algorithm().empty() ? std::string() : " (" + m.algorithm() + ")",
             "</h2>");
  if (m.has_verdict()) {
    const auto& v = m.verdict();
    StrAppend(&s, "<div id=\"verdict-", i, "\"><p class=\"",
              v.blessed() ? "blessed\">Blessed" : "rejected\">Rejected",
              "</p><ul>");
    for (const auto& r : v.reasons()) StrAppend(&s, "<li>", Escape(r), "</li>");
    s += "</ul></div>";
  }
  if (e.task() == v1::BINARY) {
    std::vector<double> cx, cy;
    for (const auto& b : e.calibration()) {
      cx.push_back(b.mean_predicted());
      cy.push_back(b.fraction_positive());
    }
    s += "<div class=\"plots\">";
    s += Plot(StrCat("roc-", i),
              StrCat("ROC (AUC ", Num(Find(e.metrics(), "auc")), ")"),
              "false positive rate", "true positive rate",
              {e.roc().x().begin(), e.roc().x().end()},
              {e.roc().y().begin(), e.roc().y().end()}, true, false);
    s += Plot(
        StrCat("pr-", i),
        StrCat("Precision-recall (AP ", Num(Find(e.metrics(), "pr_auc")), ")"),
        "recall", "precision", {e.pr().x().begin(), e.pr().x().end()},
        {e.pr().y().begin(), e.pr().y().end()}, false, false);
    s += Plot(StrCat("calibration-", i), "Calibration", "mean predicted",
              "fraction positive", cx, cy, true, true);
    s += "</div>";
    for (const auto* t : {&e.at_threshold(), &e.chosen()}) {
      StrAppend(&s, "<h3>At threshold ", Num(t->threshold()), " (",
                Escape(t->criterion()), "): accuracy ", Num(t->accuracy()),
                ", precision ", Num(t->precision()), ", recall ",
                Num(t->recall()), ", F1 ", Num(t->f1()), "</h3>");
      s += Confusion(
          StrCat(t == &e.at_threshold() ? "confusion-" : "chosen-", i),
          t->confusion(), "confusion matrix");
    }
  }
  if (e.task() == v1::MULTICLASS) {
    s += Confusion(StrCat("confusion-", i), e.confusion(), "confusion matrix");
    StrAppend(&s, "<table id=\"classes-", i,
              "\"><tr><th class=\"text\">class</th><th>precision</th>"
              "<th>recall</th><th>F1</th><th>support</th></tr>");
    for (const auto& c : e.classes()) {
      StrAppend(&s, "<tr><td class=\"text\">", Escape(c.label()), "</td><td>",
                Num(c.precision()), "</td><td>", Num(c.recall()), "</td><td>",
                Num(c.f1()), "</td><td>", c.support(), "</td></tr>");
    }
    s += "</table>";
  }
  if (e.task() == v1::REGRESSION) {
    StrAppend(&s, "<table id=\"residuals-", i,
              "\"><caption>residuals (actual - predicted)</caption><tr>");
    for (const auto& q : e.residual_quantiles())
      StrAppend(&s, "<th>q", Num(q.q() * 100, 3), "</th>");
    s += "</tr><tr>";
    for (const auto& q : e.residual_quantiles())
      StrAppend(&s, "<td>", Num(q.value()), "</td>");
    s += "</tr></table>";
  }
  if (m.slices_size() > 0) {
    std::vector<std::string> names;
    for (const auto& v : m.slices(0).metrics()) names.push_back(v.name());
    StrAppend(&s, "<h3>Slices</h3><table id=\"slices-", i,
              "\"><tr><th class=\"text\">slice</th><th>rows</th>");
    for (const auto& n : names) StrAppend(&s, "<th>", Escape(n), "</th>");
    s += "</tr>";
    for (const auto& sl : m.slices()) {
      StrAppend(
          &s, "<tr><td class=\"text\">", Escape(SliceKeyText(sl.key())),
          sl.too_small() ? " <span class=\"small\">(too few rows)</span>" : "",
          "</td><td>", sl.rows(), "</td>");
      for (const auto& n : names)
        StrAppend(&s, "<td>", Num(Find(sl.metrics(), n)), "</td>");
      s += "</tr>";
    }
    s += "</table>";
  }
  if (m.gaps_size() > 0) {
    StrAppend(&s, "<table id=\"gaps-", i,
              "\"><caption>widest gap between slices</caption><tr>"
              "<th class=\"text\">columns</th><th>metric</th><th>gap</th>"
              "<th class=\"text\">best</th><th class=\"text\">worst</th></tr>");
    for (const auto& g : m.gaps()) {
      std::string cols;
      for (const auto& c : g.columns())
        StrAppend(&cols, cols.empty() ? "" : " x ", c);
      StrAppend(&s, "<tr><td class=\"text\">", Escape(cols), "</td><td>",
                Escape(g.metric()), "</td><td>", Num(g.gap()),
                "</td><td class=\"text\">", Escape(SliceKeyText(g.best())),
                " (", Num(g.best_value()), ")</td><td class=\"text\">",
                Escape(SliceKeyText(g.worst())), " (", Num(g.worst_value()),
                ")</td></tr>");
    }
    s += "</table>";
  }
  return s;
}

}  // namespace

std::string HtmlReport(const v1::Evaluation& e) {
  std::vector<const v1::ModelEvaluation*> models;
  for (const auto& c : e.candidates()) models.push_back(&c);
  if (e.has_baseline()) models.push_back(&e.baseline());
  std::string s = StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>mlpipe evaluation ",
      Escape(e.id()), "</title><style>", kStyle, "</style></head><body>");
  StrAppend(&s, "<h1>Evaluation ", Escape(e.id()), "</h1>");
  StrAppend(&s,
            "<table id=\"summary\"><tr><th class=\"text\">split</th><td "
            "class=\"text\">",
            Escape(e.split()), " / ", Escape(e.part()),
            "</td></tr><tr><th class=\"text\">feature set</th><td "
            "class=\"text\">",
            Escape(e.feature_set()), "</td></tr>");
  if (!models.empty()) {
    StrAppend(&s, "<tr><th class=\"text\">rows</th><td class=\"text\">",
              models.front()->metrics().rows(), "</td></tr>");
  }
  StrAppend(&s, "<tr><th class=\"text\">compared by</th><td class=\"text\">",
            Escape(e.metric()),
            "</td></tr><tr><th class=\"text\">best candidate</th><td "
            "class=\"text\">",
            Escape(e.best_model()), " <span class=\"",
            e.blessed() ? "blessed\">blessed" : "rejected\">not blessed",
            "</span></td></tr><tr><th class=\"text\">baseline</th><td "
            "class=\"text\">",
            e.has_baseline() ? Escape(e.baseline().model() + " (alias " +
                                      e.baseline_alias() + ")")
                             : std::string("none yet"),
            "</td></tr></table>");
  // Metrics side by side.
  if (!models.empty()) {
    StrAppend(&s,
              "<h2>Metrics</h2><table id=\"metrics\"><tr><th "
              "class=\"text\">metric</th>");
    for (const auto* m : models) {
      StrAppend(&s, "<th>", Escape(ModelName(*m)),
                m == &e.baseline() ? " (baseline)" : "", "</th>");
    }
    s += "</tr>";
    for (const auto& name : MetricsFor(models.front()->metrics().task())) {
      StrAppend(&s, "<tr><td class=\"text\">", Escape(name), "</td>");
      for (const auto* m : models) {
        const auto& ci = m->metrics().interval();
        StrAppend(&s, "<td>", Num(Find(m->metrics().metrics(), name)),
                  ci.metric() == name && ci.resamples() > 0
                      ? StrCat(" <span class=\"small\">[", Num(ci.low()), ", ",
                               Num(ci.high()), "]</span>")
                      : "",
                  "</td>");
      }
      s += "</tr>";
    }
    s += "</table>";
  }
  for (size_t i = 0; i < models.size(); ++i) {
    s += ModelSection(*models[i], static_cast<int>(i),
                      models[i] == &e.baseline() ? "Baseline" : "Candidate");
  }
  return s + "</body></html>\n";
}

}  // namespace mlpipe::eval
