#include "common/eval/slices.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "common/ml/table_data.h"
#include "common/util/strings.h"

namespace mlpipe::eval {
namespace {

// numpy.quantile(sorted, q) (linear interpolation). REQUIRES: non-empty.
double QuantileOfSorted(const std::vector<double>& sorted, double q) {
  const double at = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] +
         (sorted[hi] - sorted[lo]) * (at - static_cast<double>(lo));
}

}  // namespace

SliceColumn NumericSliceColumn(std::string name,
                               const std::vector<double>& values, int buckets,
                               std::string (*format)(double)) {
  SliceColumn out{std::move(name), {}, {}};
  std::vector<double> sorted;
  for (double v : values)
    if (!std::isnan(v)) sorted.push_back(v);
  std::sort(sorted.begin(), sorted.end());
  const std::set<double> distinct(sorted.begin(), sorted.end());
  if (buckets <= 0 && distinct.size() > kMaxNumericSlices) buckets = 4;
  // Edges: each value's own (no buckets), or the quantiles.
  std::vector<double> edges;
  if (buckets <= 0) {
    edges.assign(distinct.begin(), distinct.end());
  } else if (!sorted.empty()) {
    for (int i = 0; i <= buckets; ++i) {
      const double e =
          QuantileOfSorted(sorted, static_cast<double>(i) / buckets);
      if (edges.empty() || e > edges.back()) edges.push_back(e);
    }
  }
  // Range k: [edges[k], edges[k + 1]), the last closed (one edge: itself).
  const size_t ranges =
      buckets <= 0 ? edges.size() : std::max<size_t>(1, edges.size() - 1);
  std::vector<std::string> labels(ranges);
  for (size_t k = 0; k < ranges; ++k) {
    if (buckets <= 0 || edges.size() == 1) {
      labels[k] = format(edges[k]);
    } else {
      labels[k] = StrCat("[", format(edges[k]), ", ", format(edges[k + 1]),
                         k + 2 == edges.size() ? "]" : ")");
    }
  }
  out.values.reserve(values.size());
  out.order.reserve(values.size());
  for (double v : values) {
    if (std::isnan(v)) {
      out.values.push_back(ml::kMissingText);
      out.order.push_back(static_cast<int32_t>(ranges));  // Last.
      continue;
    }
    size_t k = std::upper_bound(edges.begin(), edges.end(), v) - edges.begin();
    k = k == 0 ? 0 : std::min(k - 1, ranges - 1);
    out.values.push_back(labels[k]);
    out.order.push_back(static_cast<int32_t>(k));
  }
  return out;
}

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
      if (found->values.size() != n ||
          (!found->order.empty() && found->order.size() != n)) {
        return absl::InvalidArgumentError(
            StrCat("slices[", s, "]: column \"", name, "\" has ",
                   found->values.size(), " values for ", n, " rows"));
      }
      cols.push_back(found);
    }
    // Rows by combination of values (ordered, so the report is stable:
    // numbers by value, text by text).
    using Value = std::pair<int32_t, std::string>;
    std::map<std::vector<Value>, std::vector<uint32_t>> groups;
    std::vector<Value> key(cols.size());
    for (size_t i = 0; i < n; ++i) {
      for (size_t c = 0; c < cols.size(); ++c) {
        key[c] = {cols[c]->order.empty() ? 0 : cols[c]->order[i],
                  cols[c]->values[i]};
      }
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
        k->set_value(values[c].second);
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
