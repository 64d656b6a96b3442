#include "services/prep/skew.h"

#include <cmath>

#include "common/ml/drift.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"
#include "services/prep/preparer.h"

namespace mlpipe::prep {
namespace {

constexpr int kBins = 10;  // Deciles, as the monitor's drift.

double MissingRate(const v1::ColumnStatistics& c) {
  return c.count() > 0
             ? static_cast<double>(c.missing()) / static_cast<double>(c.count())
             : 0.0;
}

// Jensen-Shannon on a's deciles. REQUIRES: both have values of the column.
void NumericSkew(const v1::ColumnStatistics& ca, const v1::ColumnStatistics& cb,
                 const features::QuantileSketch& a,
                 const features::QuantileSketch& b, v1::ColumnSkew* skew) {
  skew->set_measure("jensen_shannon");
  skew->set_mean_a(ca.numeric().mean());
  skew->set_mean_b(cb.numeric().mean());
  if (a.count() == 0 || b.count() == 0) {
    skew->set_note(a.count() == 0 ? "no values in a" : "no values in b");
    return;
  }
  const auto wa = a.Weighted(), wb = b.Weighted();
  const auto edges = ml::QuantileEdges(wa, kBins);
  const auto p = ml::BinShares(wa, edges), q = ml::BinShares(wb, edges);
  *skew->mutable_edges() = {edges.begin(), edges.end()};
  *skew->mutable_shares_a() = {p.begin(), p.end()};
  *skew->mutable_shares_b() = {q.begin(), q.end()};
  // ml::JensenShannon is in nats: base 2 bounds it by 1.
  skew->set_distance(ml::JensenShannon(p, q) / std::sqrt(std::log(2.0)));
}

// The largest difference of the frequencies of the top values.
void StringSkew(const v1::ColumnStatistics& ca, const v1::ColumnStatistics& cb,
                v1::ColumnSkew* skew) {
  skew->set_measure("l_infinity");
  std::map<std::string, std::pair<double, double>> freq;
  double na = static_cast<double>(ca.count() - ca.missing());
  double nb = static_cast<double>(cb.count() - cb.missing());
  for (const auto& v : ca.strings().top_values())
    freq[v.value()].first = na > 0 ? v.count() / na : 0;
  for (const auto& v : cb.strings().top_values())
    freq[v.value()].second = nb > 0 ? v.count() / nb : 0;
  double linf = 0;
  for (const auto& [v, f] : freq)
    linf = std::max(linf, std::abs(f.first - f.second));
  skew->set_distance(linf);
}

}  // namespace

void AddColumnValues(const table::Table& chunk, ColumnValues* values) {
  for (auto& [name, sketch] : *values) {
    const int i = chunk.Find(name);
    if (i < 0) continue;
    const table::Column& c = chunk.columns[i];
    for (size_t r = 0; r < c.size(); ++r) {
      if (!c.IsValid(r)) continue;
      if (c.type == table::ColumnType::kNumeric) {
        sketch.Add(c.numbers[r]);
      } else if (c.type == table::ColumnType::kTimestamp) {
        sketch.Add(static_cast<double>(c.timestamps[r]));
      }
    }
  }
}

std::set<std::string> BinnedColumns(const v1::DatasetStatistics& a,
                                    const v1::DatasetStatistics& b,
                                    const std::set<std::string>& excluded) {
  std::map<std::string, v1::ColumnType> in_b;
  for (const auto& c : b.columns()) in_b[c.name()] = c.type();
  std::set<std::string> out;
  for (const auto& c : a.columns()) {
    auto it = in_b.find(c.name());
    if (c.has_numeric() && it != in_b.end() && it->second == c.type() &&
        !excluded.contains(c.name()))
      out.insert(c.name());
  }
  return out;
}

v1::CompareStatisticsResponse CompareColumns(
    const v1::DatasetStatistics& a, const v1::DatasetStatistics& b,
    const ColumnValues& values_a, const ColumnValues& values_b,
    const std::set<std::string>& excluded, double threshold) {
  std::map<std::string, const v1::ColumnStatistics*> by_name;
  for (const auto& c : b.columns()) by_name[c.name()] = &c;
  std::set<std::string> left_out;
  v1::CompareStatisticsResponse out;
  for (const auto& ca : a.columns()) {
    auto it = by_name.find(ca.name());
    const v1::ColumnStatistics* cb = it == by_name.end() ? nullptr : it->second;
    if (cb != nullptr) by_name.erase(it);
    if (excluded.contains(ca.name())) {
      left_out.insert(ca.name());
      continue;
    }
    v1::ColumnSkew* skew = out.add_columns();
    skew->set_column(ca.name());
    skew->set_missing_a(MissingRate(ca));
    if (cb == nullptr) {
      skew->set_note("only in a");
      skew->set_skewed(true);
      continue;
    }
    skew->set_missing_b(MissingRate(*cb));
    if (ca.type() != cb->type()) {
      skew->set_note(StrCat("type ", table::ColumnTypeName(ca.type()), " vs ",
                            table::ColumnTypeName(cb->type())));
      skew->set_skewed(true);
      continue;
    }
    auto va = values_a.find(ca.name()), vb = values_b.find(ca.name());
    if (va != values_a.end() && vb != values_b.end()) {
      NumericSkew(ca, *cb, va->second, vb->second, skew);
    } else if (ca.has_strings()) {
      StringSkew(ca, *cb, skew);
    }
    skew->set_skewed(skew->distance() > threshold);
  }
  for (const auto& [name, cb] : by_name) {
    if (excluded.contains(name)) {
      left_out.insert(name);
      continue;
    }
    v1::ColumnSkew* skew = out.add_columns();
    skew->set_column(name);
    skew->set_missing_b(MissingRate(*cb));
    skew->set_note("only in b");
    skew->set_skewed(true);
  }
  for (const auto& c : out.columns()) out.set_skewed(out.skewed() + c.skewed());
  *out.mutable_excluded() = {left_out.begin(), left_out.end()};
  return out;
}

absl::StatusOr<v1::CompareStatisticsResponse> Preparer::CompareStatistics(
    const v1::CompareStatisticsRequest& req) {
  if (req.dataset_a().empty() || req.dataset_b().empty())
    return absl::InvalidArgumentError("dataset_a, dataset_b: required");
  if (!req.environment().empty() && req.schema().columns().empty() &&
      req.schema().label().empty()) {
    return absl::InvalidArgumentError(
        "environment: needs a schema saying which columns are not in it");
  }
  double threshold = req.threshold() > 0 ? req.threshold() : 0.1;
  auto a = ComputeStatistics(req.dataset_a(), req.version_a(), {});
  if (!a.ok()) return a.status();
  auto b = ComputeStatistics(req.dataset_b(), req.version_b(), {});
  if (!b.ok()) return b.status();
  std::set<std::string> excluded =
      features::NotInEnvironment(req.schema(), req.environment());
  excluded.insert(req.exclude_columns().begin(), req.exclude_columns().end());
  // Numbers and timestamps are binned alike: their values, from both.
  ColumnValues va, vb;
  for (const auto& name : BinnedColumns(*a, *b, excluded)) {
    va.emplace(name, features::QuantileSketch());
    vb.emplace(name, features::QuantileSketch());
  }
  if (!va.empty()) {
    if (auto s = ReadColumnValues(req.dataset_a(), a->version(), &va); !s.ok())
      return s;
    if (auto s = ReadColumnValues(req.dataset_b(), b->version(), &vb); !s.ok())
      return s;
  }
  return CompareColumns(*a, *b, va, vb, excluded, threshold);
}

absl::Status Preparer::ReadColumnValues(const std::string& dataset,
                                        int64_t version, ColumnValues* values) {
  ReadScope scope;
  for (const auto& [name, sketch] : *values) scope.columns.push_back(name);
  auto reader = readers_(dataset, version, scope);
  if (!reader.ok()) return reader.status();
  table::Table chunk;
  while (true) {
    auto more = (*reader)->Next(&chunk);
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
    AddColumnValues(chunk, values);
  }
}

}  // namespace mlpipe::prep
