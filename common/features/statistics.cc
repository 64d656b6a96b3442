#include "common/features/statistics.h"

#include <cmath>

#include "common/table/typing.h"
#include "common/util/strings.h"

namespace mlpipe::features {

ColumnStatisticsAccumulator::ColumnStatisticsAccumulator(
    std::string name, const StatisticsOptions& options)
    : name_(std::move(name)),
      options_(options),
      quantiles_(options.kll_k, options.exact_quantile_limit),
      top_(options.top_values_capacity),
      distinct_(options.exact_distinct_limit) {}

void ColumnStatisticsAccumulator::AddNumber(double v) {
  ++n_;
  double delta = v - mean_;
  mean_ += delta / static_cast<double>(n_);
  m2_ += delta * (v - mean_);
  sum_ += v;
  if (n_ == 1 || v < min_) min_ = v;
  if (n_ == 1 || v > max_) max_ = v;
  zeros_ += v == 0;
  quantiles_.Add(v);
  distinct_.AddHash(StableHash(v));
}

absl::Status ColumnStatisticsAccumulator::Add(const table::Column& in) {
  const table::Column* c = &in;
  absl::StatusOr<table::Column> cast;
  if (type_ == table::ColumnType::kUnknown &&
      in.type != table::ColumnType::kUnknown) {
    type_ = in.type;
    timestamp_format_ = in.timestamp_format;
  } else if (in.type != type_ && in.type != table::ColumnType::kUnknown) {
    cast = table::CastColumn(in, type_, timestamp_format_);
    if (!cast.ok()) return cast.status();
    c = &*cast;
  }
  const size_t n = c->size();
  count_ += static_cast<int64_t>(n);
  for (size_t i = 0; i < n; ++i) {
    if (!c->IsValid(i)) {
      ++missing_;
      continue;
    }
    switch (c->type) {
      case table::ColumnType::kNumeric:
        AddNumber(c->numbers[i]);
        break;
      case table::ColumnType::kTimestamp:
        AddNumber(static_cast<double>(c->timestamps[i]));
        break;
      case table::ColumnType::kCategorical:
      case table::ColumnType::kText:
        length_sum_ += static_cast<double>(c->strings[i].size());
        top_.Add(c->strings[i]);
        distinct_.AddHash(StableHash(c->strings[i]));
        ++n_;
        break;
      case table::ColumnType::kUnknown:
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status ColumnStatisticsAccumulator::Merge(
    const ColumnStatisticsAccumulator& o) {
  if (o.type_ != table::ColumnType::kUnknown &&
      type_ != table::ColumnType::kUnknown && o.type_ != type_) {
    return absl::FailedPreconditionError(StrCat(
        "column '", name_, "': cannot merge ", table::ColumnTypeName(o.type_),
        " statistics into ", table::ColumnTypeName(type_)));
  }
  if (type_ == table::ColumnType::kUnknown) {
    type_ = o.type_;
    timestamp_format_ = o.timestamp_format_;
  }
  count_ += o.count_;
  missing_ += o.missing_;
  if (o.n_ > 0) {
    if (IsNumeric()) {
      double n = static_cast<double>(n_ + o.n_);
      double delta = o.mean_ - mean_;
      m2_ += o.m2_ + delta * delta * static_cast<double>(n_) *
                         static_cast<double>(o.n_) / n;
      mean_ += delta * static_cast<double>(o.n_) / n;
      min_ = n_ == 0 ? o.min_ : std::min(min_, o.min_);
      max_ = n_ == 0 ? o.max_ : std::max(max_, o.max_);
      sum_ += o.sum_;
      zeros_ += o.zeros_;
      quantiles_.Merge(o.quantiles_);
    } else {
      length_sum_ += o.length_sum_;
      top_.Merge(o.top_);
    }
    n_ += o.n_;
    distinct_.Merge(o.distinct_);
  }
  return absl::OkStatus();
}

v1::ColumnStatistics ColumnStatisticsAccumulator::Finish() const {
  v1::ColumnStatistics s;
  s.set_name(name_);
  s.set_type(static_cast<v1::ColumnType>(type_));
  s.set_count(count_);
  s.set_missing(missing_);
  s.set_distinct(static_cast<int64_t>(distinct_.Estimate()));
  s.set_distinct_exact(distinct_.exact());
  if (!distinct_.exact())
    s.set_distinct_error(DistinctCounter::RelativeError());
  if (n_ == 0) return s;
  if (IsNumeric()) {
    auto* num = s.mutable_numeric();
    num->set_mean(mean_);
    num->set_std_dev(n_ > 1 ? std::sqrt(m2_ / static_cast<double>(n_ - 1)) : 0);
    num->set_min(min_);
    num->set_max(max_);
    num->set_sum(sum_);
    num->set_zeros(zeros_);
    for (double q : options_.quantile_points) {
      num->add_quantile_points(q);
      num->add_quantiles(quantiles_.Quantile(q));
    }
    num->set_quantiles_exact(quantiles_.exact());
    if (!quantiles_.exact())
      num->set_quantile_rank_error(QuantileSketch::RankError(options_.kll_k));
    int buckets = std::max(1, options_.histogram_buckets);
    std::vector<double> b;
    if (max_ == min_) {
      b = {min_, max_};
    } else {
      for (int i = 0; i <= buckets; ++i) {
        b.push_back(i == buckets ? max_ : min_ + (max_ - min_) * i / buckets);
      }
    }
    auto* h = num->mutable_histogram();
    for (double x : b) h->add_boundaries(x);
    for (int64_t c : quantiles_.HistogramCounts(b)) h->add_counts(c);
  } else {
    auto* str = s.mutable_strings();
    str->set_avg_length(length_sum_ / static_cast<double>(n_));
    str->set_top_values_exact(top_.exact());
    for (const auto& [value, count] : top_.Top(options_.top_k)) {
      auto* vc = str->add_top_values();
      vc->set_value(value);
      vc->set_count(count);
    }
  }
  return s;
}

ColumnStatisticsAccumulator& TableStatisticsAccumulator::Column(
    const std::string& name) {
  auto& slot = columns_[name];
  if (!slot) {
    slot = std::make_unique<ColumnStatisticsAccumulator>(name, options_);
    order_.push_back(name);
  }
  return *slot;
}

absl::Status TableStatisticsAccumulator::Add(const table::Table& chunk) {
  rows_ += static_cast<int64_t>(chunk.num_rows);
  for (const auto& c : chunk.columns) {
    if (auto s = Column(c.name).Add(c); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status TableStatisticsAccumulator::Merge(
    const TableStatisticsAccumulator& other) {
  rows_ += other.rows_;
  for (const auto& name : other.order_) {
    if (auto s = Column(name).Merge(*other.columns_.at(name)); !s.ok())
      return s;
  }
  return absl::OkStatus();
}

v1::DatasetStatistics TableStatisticsAccumulator::Finish() const {
  v1::DatasetStatistics out;
  out.set_row_count(rows_);
  for (const auto& name : order_)
    *out.add_columns() = columns_.at(name)->Finish();
  return out;
}

}  // namespace mlpipe::features
