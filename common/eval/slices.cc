#include "common/eval/slices.h"

#include <map>

#include "common/util/strings.h"

namespace mlpipe::eval {

absl::StatusOr<SliceReport> Slice(
    const Predictions& p, const Options& options,
    const std::vector<SliceColumn>& columns,
    const std::vector<std::vector<std::string>>& specs, int64_t min_rows) {
  const size_t n = p.rows();
  const std::string headline =
      options.headline.empty() ? HeadlineMetric(p.task) : options.headline;
  const bool higher = HigherIsBetter(headline);
  SliceReport report;
  for (size_t s = 0; s < specs.size(); ++s) {
    const auto& spec = specs[s];
    if (spec.empty()) {
      return absl::InvalidArgumentError(
          StrCat("slices[", s, "]: name at least one column"));
    }
    std::vector<const SliceColumn*> cols;
    for (const auto& name : spec) {
      const SliceColumn* found = nullptr;
      for (const auto& c : columns) {
        if (c.name == name) found = &c;
      }
      if (found == nullptr) {
        return absl::InvalidArgumentError(
            StrCat("slices[", s, "]: no column \"", name, "\" in the rows"));
      }
      if (found->values.size() != n) {
        return absl::InvalidArgumentError(
            StrCat("slices[", s, "]: column \"", name, "\" has ",
                   found->values.size(), " values for ", n, " rows"));
      }
      cols.push_back(found);
    }
    // Rows by combination of values (ordered, so the report is stable).
    std::map<std::vector<std::string>, std::vector<uint32_t>> groups;
    std::vector<std::string> key(cols.size());
    for (size_t i = 0; i < n; ++i) {
      for (size_t c = 0; c < cols.size(); ++c) key[c] = cols[c]->values[i];
      groups[key].push_back(static_cast<uint32_t>(i));
    }
    const v1::SliceMetrics* best = nullptr;
    const v1::SliceMetrics* worst = nullptr;
    const size_t first = report.slices.size();
    for (const auto& [values, rows] : groups) {
      v1::SliceMetrics m;
      for (size_t c = 0; c < cols.size(); ++c) {
        auto* k = m.add_key();
        k->set_column(cols[c]->name);
        k->set_value(values[c]);
      }
      m.set_rows(static_cast<int64_t>(rows.size()));
      m.set_too_small(static_cast<int64_t>(rows.size()) < min_rows);
      for (auto& v : Scalars(p, options, &rows, nullptr))
        *m.add_metrics() = std::move(v);
      report.slices.push_back(std::move(m));
    }
    for (size_t i = first; i < report.slices.size(); ++i) {
      const v1::SliceMetrics& m = report.slices[i];
      const double v = Find(m.metrics(), headline);
      if (m.too_small() || std::isnan(v)) continue;
      auto better = [&](double a, double b) { return higher ? a > b : a < b; };
      if (best == nullptr || better(v, Find(best->metrics(), headline)))
        best = &m;
      if (worst == nullptr || better(Find(worst->metrics(), headline), v))
        worst = &m;
    }
    if (best != nullptr && worst != nullptr && best != worst) {
      v1::SliceGap gap;
      for (const auto& name : spec) gap.add_columns(name);
      gap.set_metric(headline);
      gap.set_best_value(Find(best->metrics(), headline));
      gap.set_worst_value(Find(worst->metrics(), headline));
      gap.set_gap(std::abs(gap.best_value() - gap.worst_value()));
      *gap.mutable_best() = best->key();
      *gap.mutable_worst() = worst->key();
      report.gaps.push_back(std::move(gap));
    }
  }
  return report;
}

}  // namespace mlpipe::eval
