#include "services/monitor/profile.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/ml/drift.h"
#include "common/util/strings.h"

namespace mlpipe::monitor {

using v1::FieldProfile;

Profiler::Field& Profiler::Get(const std::string& name,
                               FieldProfile::Kind kind) {
  auto [it, added] = fields_.try_emplace(name);
  Field& f = it->second;
  if (added) f.values = features::QuantileSketch(options_.sketch_k);
  if (!f.typed) {
    f.kind = kind;
    f.typed = true;
  }
  return f;
}

void Profiler::AddNumberTo(Field& f, double v) {
  ++f.count;
  if (f.kind != FieldProfile::NUMERIC || !std::isfinite(v)) {
    ++f.missing;
    return;
  }
  if (f.values.count() == 0) {
    f.min = f.max = v;
  } else {
    f.min = std::min(f.min, v);
    f.max = std::max(f.max, v);
  }
  f.values.Add(v);
}

void Profiler::AddNumber(const std::string& field, double v) {
  AddNumberTo(Get(field, FieldProfile::NUMERIC), v);
}

void Profiler::AddNumbers(const std::string& field, const double* v, size_t n) {
  Field& f = Get(field, FieldProfile::NUMERIC);
  if (f.kind != FieldProfile::NUMERIC) {
    f.count += n;
    f.missing += n;
    return;
  }
  // Runs of finite values go to the sketch at once.
  for (size_t i = 0; i < n;) {
    size_t end = i;
    double lo = v[i], hi = v[i];
    for (; end < n && std::isfinite(v[end]); ++end) {
      lo = std::min(lo, v[end]);
      hi = std::max(hi, v[end]);
    }
    if (end > i) {
      f.min = f.values.count() == 0 ? lo : std::min(f.min, lo);
      f.max = f.values.count() == 0 ? hi : std::max(f.max, hi);
      f.values.AddMany(v + i, end - i);
      f.count += end - i;
    }
    if (end < n) AddNumberTo(f, v[end]);  // Not finite: missing.
    i = end + 1;
  }
}

void Profiler::AddStringTo(Field& f, std::string_view v) {
  ++f.count;
  if (f.kind != FieldProfile::CATEGORICAL) {
    ++f.missing;
    return;
  }
  if (v.size() > options_.max_category_bytes) {
    ++f.other;
    return;
  }
  // absl::string_view: Debian's Abseil has its own.
  auto it = f.categories.find(absl::string_view(v.data(), v.size()));
  if (it != f.categories.end()) {
    ++it->second;
  } else if (f.categories.size() < options_.max_categories) {
    f.categories.emplace(std::string(v), 1);
  } else {
    ++f.other;
  }
}

void Profiler::AddString(const std::string& field, std::string_view v) {
  AddStringTo(Get(field, FieldProfile::CATEGORICAL), v);
}

void Profiler::AddStrings(const std::string& field, const std::string_view* v,
                          size_t n) {
  Field& f = Get(field, FieldProfile::CATEGORICAL);
  for (size_t i = 0; i < n; ++i) AddStringTo(f, v[i]);
}

void Profiler::AddMissing(const std::string& field) {
  auto [it, added] = fields_.try_emplace(field);
  if (added) it->second.values = features::QuantileSketch(options_.sketch_k);
  ++it->second.count;
  ++it->second.missing;
}

void Profiler::AddRecord(const v1::PredictionRecord& record) {
  using google::protobuf::Value;
  for (const auto& [name, v] : record.inputs().fields()) {
    switch (v.kind_case()) {
      case Value::kNumberValue:
        AddNumber(name, v.number_value());
        break;
      case Value::kStringValue:
        AddString(name, v.string_value());
        break;
      case Value::kBoolValue:
        AddNumber(name, v.bool_value() ? 1.0 : 0.0);
        break;
      default:
        AddMissing(name);
    }
  }
  if (record.scores_size() == 1) AddNumber(kPredictionField, record.scores(0));
  if (!record.label().empty()) AddString(kLabelField, record.label());
  EndRow();
}

void Profiler::AddTable(const table::Table& t,
                        const std::vector<uint8_t>* keep) {
  using table::ColumnType;
  for (const auto& c : t.columns) {
    // The field's kind from its type; its entry looked up once.
    const bool text =
        c.type == ColumnType::kCategorical || c.type == ColumnType::kText;
    const bool number =
        c.type == ColumnType::kNumeric || c.type == ColumnType::kTimestamp;
    Field* f = nullptr;
    if (text) f = &Get(c.name, FieldProfile::CATEGORICAL);
    if (number) f = &Get(c.name, FieldProfile::NUMERIC);
    if (number && c.type == ColumnType::kTimestamp) f->timestamp = true;
    if (f == nullptr) {  // Unknown type: every value missing.
      auto [it, added] = fields_.try_emplace(c.name);
      if (added)
        it->second.values = features::QuantileSketch(options_.sketch_k);
      f = &it->second;
    }
    for (size_t r = 0; r < t.num_rows; ++r) {
      if (keep != nullptr && (*keep)[r] == 0) continue;
      if (!c.IsValid(r) || (!text && !number)) {
        ++f->count;
        ++f->missing;
      } else if (c.type == ColumnType::kNumeric) {
        AddNumberTo(*f, c.numbers[r]);
      } else if (c.type == ColumnType::kTimestamp) {
        AddNumberTo(*f, static_cast<double>(c.timestamps[r]));
      } else {
        AddStringTo(*f, c.strings[r]);
      }
    }
  }
  rows_ += keep == nullptr ? t.num_rows
                           : static_cast<uint64_t>(std::count_if(
                                 keep->begin(), keep->begin() + t.num_rows,
                                 [](uint8_t k) { return k; }));
}

absl::Status Profiler::Merge(const Profiler& other) {
  for (const auto& [name, o] : other.fields_) {
    auto it = fields_.find(name);
    if (it != fields_.end() && it->second.typed && o.typed &&
        it->second.kind != o.kind) {
      return absl::InvalidArgumentError(
          StrCat("field '", name, "' is ", FieldProfile::Kind_Name(o.kind),
                 " in one profile and ",
                 FieldProfile::Kind_Name(it->second.kind), " in the other"));
    }
  }
  for (const auto& [name, o] : other.fields_) {
    auto [it, added] = fields_.try_emplace(name, o);
    if (added) continue;
    Field& f = it->second;
    if (!f.typed && o.typed) {
      f.kind = o.kind;
      f.typed = true;
    }
    if (o.values.count() > 0) {
      f.min = f.values.count() == 0 ? o.min : std::min(f.min, o.min);
      f.max = f.values.count() == 0 ? o.max : std::max(f.max, o.max);
    }
    f.timestamp |= o.timestamp;
    f.count += o.count;
    f.missing += o.missing;
    f.values.Merge(o.values);
    f.other += o.other;
    for (const auto& [value, n] : o.categories) {
      auto c = f.categories.find(value);
      if (c != f.categories.end()) {
        c->second += n;
      } else if (f.categories.size() < options_.max_categories) {
        f.categories.emplace(value, n);
      } else {
        f.other += n;
      }
    }
  }
  rows_ += other.rows_;
  return absl::OkStatus();
}

v1::Profile Profiler::ToProto() const {
  v1::Profile p;
  p.set_rows(rows_);
  for (const auto& [name, f] : fields_) {
    FieldProfile* fp = p.add_fields();
    fp->set_name(name);
    fp->set_kind(f.kind);
    fp->set_count(f.count);
    fp->set_missing(f.missing);
    if (f.kind == FieldProfile::NUMERIC) {
      f.values.ToProto(fp->mutable_values());
      fp->set_min(f.min);
      fp->set_max(f.max);
      fp->set_timestamp(f.timestamp);
    } else {
      for (const auto& [value, n] : f.categories)
        (*fp->mutable_categories())[value] = n;
      fp->set_other(f.other);
    }
  }
  return p;
}

absl::StatusOr<Profiler> Profiler::FromProto(const v1::Profile& profile,
                                             ProfileOptions options) {
  Profiler out(options);
  out.rows_ = profile.rows();
  for (const FieldProfile& fp : profile.fields()) {
    Field f;
    f.kind = fp.kind();
    f.typed = true;
    f.timestamp = fp.timestamp();
    f.count = fp.count();
    f.missing = fp.missing();
    f.values = features::QuantileSketch(options.sketch_k);
    if (fp.kind() == FieldProfile::NUMERIC && fp.has_values()) {
      auto s = features::QuantileSketch::FromProto(fp.values());
      if (!s.ok()) {
        return absl::DataLossError(
            StrCat("profile field '", fp.name(), "': ", s.status().message()));
      }
      f.values = std::move(*s);
    }
    f.min = fp.min();
    f.max = fp.max();
    uint64_t present = f.values.count() + fp.other();
    for (const auto& [value, n] : fp.categories()) {
      f.categories.emplace(value, n);
      present += n;
    }
    f.other = fp.other();
    if (present + f.missing != f.count) {
      return absl::DataLossError(
          StrCat("profile field '", fp.name(), "': ", present, " values and ",
                 f.missing, " missing, but a count of ", f.count));
    }
    out.fields_.emplace(fp.name(), std::move(f));
  }
  return out;
}

namespace {

double Share(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : static_cast<double>(part) / whole;
}

// Standard deviation of a weighted sample (the reference's scale for the
// Wasserstein distance).
double StdDev(const ml::Weighted& x) {
  double n = 0, mean = 0, m2 = 0;
  for (const auto& [v, w] : x) {  // West's weighted update.
    const double wd = static_cast<double>(w);
    n += wd;
    const double delta = v - mean;
    mean += wd / n * delta;
    m2 += wd * delta * (v - mean);
  }
  return n > 0 ? std::sqrt(m2 / n) : 0;
}

void CompareNumbers(const FieldProfile& r, const FieldProfile& c,
                    const DriftThresholds& t, v1::FieldDrift* out) {
  auto rs = features::QuantileSketch::FromProto(r.values());
  auto cs = features::QuantileSketch::FromProto(c.values());
  out->set_method("psi");
  out->set_threshold(t.psi);
  if (!rs.ok() || !cs.ok() || rs->count() == 0 || cs->count() == 0) return;
  const ml::Weighted a = rs->Weighted(), b = cs->Weighted();
  const double ks = ml::KsStatistic(a, b);
  out->set_ks(ks);
  out->set_ks_p_value(ml::KsPValue(ks, static_cast<double>(rs->count()),
                                   static_cast<double>(cs->count())));
  const double sd = StdDev(a);
  out->set_wasserstein(ml::Wasserstein(a, b) / (sd > 0 ? sd : 1.0));
  const auto edges = ml::QuantileEdges(a, t.bins);
  const auto p = ml::BinShares(a, edges), q = ml::BinShares(b, edges);
  out->set_psi(ml::Psi(p, q));
  out->set_jensenshannon(ml::JensenShannon(p, q));
  out->set_score(out->psi());
  uint64_t outside = 0;
  for (const auto& [v, w] : b)
    if (v < r.min() || v > r.max()) outside += w;
  out->set_out_of_range_rate(Share(outside, cs->count()));
}

void CompareCategories(const FieldProfile& r, const FieldProfile& c,
                       const DriftThresholds& t, v1::FieldDrift* out) {
  out->set_method("jensenshannon");
  out->set_threshold(t.jensenshannon);
  // Columns: every category either side has (sorted: deterministic), then
  // the capped-away "other" counts.
  std::map<std::string, std::pair<double, double>> counts;
  for (const auto& [v, n] : r.categories()) counts[v].first = n;
  for (const auto& [v, n] : c.categories()) counts[v].second = n;
  std::vector<double> p, q;
  uint64_t unseen = 0, present = 0;
  for (const auto& [v, n] : counts) {
    p.push_back(n.first);
    q.push_back(n.second);
    present += static_cast<uint64_t>(n.second);
    if (n.first == 0) unseen += static_cast<uint64_t>(n.second);
  }
  p.push_back(static_cast<double>(r.other()));
  q.push_back(static_cast<double>(c.other()));
  present += c.other();
  if (present == 0 || r.count() == r.missing()) return;
  out->set_jensenshannon(ml::JensenShannon(p, q));
  double sp = 0, sq = 0;
  for (double v : p) sp += v;
  for (double v : q) sq += v;
  std::vector<double> ps(p.size()), qs(q.size());
  for (size_t i = 0; i < p.size(); ++i) {
    ps[i] = p[i] / sp;
    qs[i] = q[i] / sq;
  }
  out->set_psi(ml::Psi(ps, qs));
  const ml::ChiSquare chi = ml::Chi2Contingency(p, q);
  out->set_chi2(chi.statistic);
  out->set_chi2_p_value(chi.p_value);
  out->set_score(out->jensenshannon());
  out->set_unseen_rate(Share(unseen, present));
}

}  // namespace

absl::StatusOr<v1::DriftReport> Compare(const v1::Profile& reference,
                                        const v1::Profile& current,
                                        const DriftThresholds& thresholds) {
  // Consistency first (counts, sketches).
  for (const v1::Profile* p : {&reference, &current}) {
    if (auto s = Profiler::FromProto(*p); !s.ok()) return s.status();
  }
  std::map<std::string, const FieldProfile*> ref;
  for (const auto& f : reference.fields()) ref[f.name()] = &f;
  v1::DriftReport report;
  report.set_reference_rows(reference.rows());
  report.set_current_rows(current.rows());
  for (const FieldProfile& c : current.fields()) {
    auto it = ref.find(c.name());
    if (it == ref.end()) continue;
    const FieldProfile& r = *it->second;
    if (r.kind() != c.kind()) {
      return absl::InvalidArgumentError(StrCat(
          "field '", c.name(), "' is ", FieldProfile::Kind_Name(r.kind()),
          " in the reference and ", FieldProfile::Kind_Name(c.kind()), " now"));
    }
    v1::FieldDrift* d = report.add_fields();
    d->set_name(c.name());
    d->set_kind(c.kind());
    d->set_count(c.count());
    d->set_missing_rate(Share(c.missing(), c.count()));
    d->set_reference_missing_rate(Share(r.missing(), r.count()));
    if (c.kind() == FieldProfile::NUMERIC) {
      CompareNumbers(r, c, thresholds, d);
    } else {
      CompareCategories(r, c, thresholds, d);
    }
    d->set_drifted(d->score() >= d->threshold() && c.count() > c.missing());
    if (d->drifted()) report.add_drifted(c.name());
  }
  return report;
}

}  // namespace mlpipe::monitor
