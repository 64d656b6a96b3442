// Feature selection (SelectFeatures): scores every output of a fitted
// transform against the label and keeps the k best.
#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "common/features/transform.h"
#include "common/features/transform_internal.h"
#include "common/table/typing.h"
#include "common/util/strings.h"

namespace mlpipe::features {
namespace {

// The label's class of each row.
struct Labels {
  std::vector<int> y;  // Class id of each row; -1: the row has no label.
  size_t classes = 0;  // Distinct label values.
};

// Class ids are numbered in the order the values (as text) first appear.
Labels LabelsOf(const table::Column& lc, size_t rows) {
  std::map<std::string, int> class_ids;
  Labels out;
  out.y.assign(rows, -1);
  for (size_t r = 0; r < rows; ++r) {
    if (!lc.IsValid(r)) continue;
    std::string v;
    if (table::IsStringType(lc.type)) {
      v = lc.strings[r];
    } else if (lc.type == table::ColumnType::kNumeric) {
      table::AppendNumber(lc.numbers[r], &v);
    } else {
      v = std::to_string(lc.timestamps[r]);
    }
    out.y[r] = class_ids.try_emplace(v, static_cast<int>(class_ids.size()))
                   .first->second;
  }
  out.classes = class_ids.size();
  return out;
}

// scikit-learn's chi2 of one feature: observed = per-class sums of the
// feature; expected = class frequency * feature total; chi2 = sum (o - e)^2 /
// e. INVALID_ARGUMENT for a negative value.
absl::StatusOr<double> Chi2(const table::Column& feature,
                            const Labels& labels) {
  const std::vector<double>& f = feature.numbers;
  const std::vector<int>& y = labels.y;
  std::vector<double> observed(labels.classes, 0), count(labels.classes, 0);
  double total = 0, n = 0;
  for (size_t r = 0; r < f.size(); ++r) {
    if (y[r] < 0) continue;
    if (f[r] < 0) {
      return absl::InvalidArgumentError(
          StrCat("select: chi2 needs non-negative features; '", feature.name,
                 "' has ", f[r]));
    }
    observed[y[r]] += f[r];
    count[y[r]] += 1;
    total += f[r];
    n += 1;
  }
  double chi2 = 0;
  for (size_t c = 0; c < labels.classes; ++c) {
    double e = count[c] / n * total;
    if (e > 0) chi2 += (observed[c] - e) * (observed[c] - e) / e;
  }
  return chi2;
}

// Mutual information (nats) of the label with one feature, its values
// discretized into at most 16 bins.
double MutualInfo(const std::vector<double>& f, const Labels& labels) {
  const std::vector<int>& y = labels.y;
  // Bins: distinct values when there are at most 16, else equal-
  // frequency bins by rank.
  std::vector<std::pair<double, size_t>> v;
  for (size_t r = 0; r < f.size(); ++r) {
    if (y[r] >= 0 && !std::isnan(f[r])) v.emplace_back(f[r], r);
  }
  std::sort(v.begin(), v.end());
  std::vector<int> bin(f.size(), -1);
  int bins = 0;
  size_t distinct = 0;
  for (size_t i = 0; i < v.size(); ++i)
    distinct += (i == 0 || v[i].first != v[i - 1].first);
  for (size_t i = 0; i < v.size(); ++i) {
    if (distinct <= 16) {
      if (i > 0 && v[i].first != v[i - 1].first) ++bins;
      bin[v[i].second] = bins;
    } else {
      // Equal values share the bin of their first occurrence.
      size_t first = i;
      while (first > 0 && v[first - 1].first == v[i].first) --first;
      bin[v[i].second] = static_cast<int>(first * 16 / v.size());
    }
  }
  std::map<std::pair<int, int>, double> joint;
  std::map<int, double> pb;
  std::vector<double> pc(labels.classes, 0);
  double n = static_cast<double>(v.size());
  for (const auto& [val, r] : v) {
    joint[{bin[r], y[r]}] += 1;
    pb[bin[r]] += 1;
    pc[y[r]] += 1;
  }
  double mi = 0;
  for (const auto& [bc, c] : joint)
    mi += c / n * std::log(c * n / (pb[bc.first] * pc[bc.second]));
  return std::max(0.0, mi);
}

// The indices of the `k` highest scores (ties: the earlier), ascending.
std::vector<int> Best(const std::vector<double>& scores, int k) {
  std::vector<int> order(scores.size());
  for (size_t j = 0; j < order.size(); ++j) order[j] = static_cast<int>(j);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return scores[a] > scores[b]; });
  order.resize(std::min<size_t>(k, order.size()));
  std::sort(order.begin(), order.end());
  return order;
}

}  // namespace

absl::Status SelectFeatures(const table::Table& training,
                            const std::string& label, const std::string& method,
                            int k, v1::FittedTransform* fitted) {
  if (method != "chi2" && method != "mutual_info") {
    return absl::InvalidArgumentError(
        StrCat("select: '", method, "' is not chi2 or mutual_info"));
  }
  if (k < 1) return absl::InvalidArgumentError("select_k: must be >= 1");
  int li = training.Find(label);
  if (label.empty() || li < 0) {
    return absl::InvalidArgumentError(
        StrCat("label: feature selection needs the label column ('", label,
               "' is not in the training data)"));
  }
  fitted->clear_selection();
  TransformApplier all(*fitted);
  auto x = all.ApplyBatch(training);
  if (!x.ok()) return x.status();
  // Rows without a label are left out.
  const Labels labels = LabelsOf(training.columns[li], training.num_rows);
  if (labels.classes < 2) {
    return absl::InvalidArgumentError(
        StrCat("label: '", label, "' needs at least two classes to select by"));
  }
  std::vector<double> scores(x->columns.size());
  for (size_t j = 0; j < x->columns.size(); ++j) {
    if (method == "chi2") {
      auto chi2 = Chi2(x->columns[j], labels);
      if (!chi2.ok()) return chi2.status();
      scores[j] = *chi2;
    } else {
      scores[j] = MutualInfo(x->columns[j].numbers, labels);
    }
  }
  v1::FeatureSelection* sel = fitted->mutable_selection();
  sel->set_method(method);
  sel->set_label(label);
  for (int j : Best(scores, k)) sel->add_kept(j);
  for (double sc : scores) sel->add_scores(sc);
  internal::Seal(fitted);
  return absl::OkStatus();
}

}  // namespace mlpipe::features
