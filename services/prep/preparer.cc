#include "services/prep/preparer.h"

#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "common/metrics/metrics.h"
#include "common/util/strings.h"

namespace mlpipe::prep {
namespace {

constexpr char kStatistics[] = "statistics";

struct Metrics {
  prometheus::Counter& rows;
  prometheus::Family<prometheus::Counter>& statistics;
  prometheus::Family<prometheus::Counter>& anomalies;
  static Metrics& Get() {
    static Metrics* m = new Metrics{
        prometheus::BuildCounter()
            .Name("mlpipe_prep_rows_processed_total")
            .Help("Rows read to compute statistics.")
            .Register(metrics::Registry())
            .Add({}),
        prometheus::BuildCounter()
            .Name("mlpipe_prep_statistics_requests_total")
            .Help("Statistics requests by result (computed, stored).")
            .Register(metrics::Registry()),
        prometheus::BuildCounter()
            .Name("mlpipe_prep_anomalies_total")
            .Help("Anomalies found by validation, by kind.")
            .Register(metrics::Registry()),
    };
    return *m;
  }
};

// The statistics of `columns` (all when empty); INVALID_ARGUMENT naming a
// column the dataset does not have.
absl::StatusOr<v1::DatasetStatistics> Select(
    v1::DatasetStatistics all, const std::vector<std::string>& columns) {
  if (columns.empty()) return all;
  v1::DatasetStatistics out = all;
  out.clear_columns();
  for (const auto& name : columns) {
    const v1::ColumnStatistics* found = nullptr;
    for (const auto& c : all.columns()) {
      if (c.name() == name) found = &c;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(StrCat(
          "columns: dataset '", all.dataset(), "' has no column '", name, "'"));
    }
    *out.add_columns() = *found;
  }
  return out;
}

}  // namespace

storage::Options Preparer::StorageOptions() {
  storage::Options o;
  o.column_families = {{.name = kStatistics},
                       {.name = "transforms"},
                       {.name = "feature_sets"},
                       {.name = "features", .large_values = true},
                       {.name = kOnline},
                       {.name = kOnlineHistory},
                       {.name = ops::kOperationsColumnFamily},
                       {.name = events::kEventsColumnFamily}};
  return o;
}

absl::StatusOr<v1::DatasetStatistics> Preparer::ComputeStatistics(
    const std::string& dataset, int64_t version,
    const std::vector<std::string>& columns) {
  auto reader = readers_(dataset, version, ReadScope{});
  if (!reader.ok()) return reader.status();
  const std::string key = StrCat(dataset, "@", (*reader)->version());
  if (auto raw = store_->Get(kStatistics, key); raw.ok()) {
    v1::DatasetStatistics stored;
    if (stored.ParseFromString(*raw)) {
      Metrics::Get().statistics.Add({{"result", "stored"}}).Increment();
      return Select(std::move(stored), columns);
    }
  }
  features::TableStatisticsAccumulator acc(options_.statistics);
  table::Table chunk;
  while (true) {
    auto more = (*reader)->Next(&chunk);
    if (!more.ok()) return more.status();
    if (!*more) break;
    Metrics::Get().rows.Increment(static_cast<double>(chunk.num_rows));
    if (auto s = acc.Add(chunk); !s.ok()) return s;
  }
  v1::DatasetStatistics stats = acc.Finish();
  stats.set_dataset(dataset);
  stats.set_version((*reader)->version());
  storage::WriteBatch b;
  b.Put(kStatistics, key, stats.SerializeAsString());
  auto event = events::EventLog::Make(
      "statistics.computed",
      {{"dataset", dataset}, {"version", std::to_string(stats.version())}});
  if (auto s = events_->Commit(std::move(b), {event}); !s.ok()) return s;
  Metrics::Get().statistics.Add({{"result", "computed"}}).Increment();
  return Select(std::move(stats), columns);
}

absl::StatusOr<v1::ValidationReport> Preparer::Validate(
    const std::string& dataset, int64_t version, const v1::DataSchema* schema,
    const std::string& label, const std::vector<std::string>& fail_on) {
  std::set<v1::Anomaly::Kind> policy;
  for (const auto& name : fail_on) {
    auto kind = features::AnomalyKindFromName(name);
    if (!kind.ok())
      return absl::InvalidArgumentError(
          StrCat("fail_on: ", kind.status().message()));
    policy.insert(*kind);
  }
  auto stats = ComputeStatistics(dataset, version, {});
  if (!stats.ok()) return stats.status();
  std::optional<v1::DatasetStatistics> previous;
  if (stats->version() > 1) {
    auto p = ComputeStatistics(dataset, stats->version() - 1, {});
    if (!p.ok()) return p.status();
    previous = std::move(*p);
  }
  v1::DataSchema inferred;
  if (schema == nullptr) {
    inferred = features::InferSchema(previous ? *previous : *stats, label);
    schema = &inferred;
  }
  v1::DataSchema with_label = *schema;
  if (with_label.label().empty()) with_label.set_label(label);
  v1::ValidationReport report = features::Validate(
      with_label, *stats, previous ? &*previous : nullptr, policy);
  for (const auto& a : report.anomalies()) {
    Metrics::Get()
        .anomalies
        .Add(
            {{"kind", absl::AsciiStrToLower(v1::Anomaly::Kind_Name(a.kind()))}})
        .Increment();
  }
  if (report.anomalies_size() > 0) {
    auto event = events::EventLog::Make(
        "data.anomaly", {{"dataset", dataset},
                         {"version", std::to_string(report.version())},
                         {"anomalies", std::to_string(report.anomalies_size())},
                         {"passed", report.passed() ? "true" : "false"}});
    if (auto s = events_->Commit({}, {event}); !s.ok()) return s;
  }
  return report;
}

}  // namespace mlpipe::prep
