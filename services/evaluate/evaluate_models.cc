#include "services/evaluate/evaluate_models.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <optional>

#include "common/eval/gate.h"
#include "common/util/strings.h"

namespace mlpipe::evaluate {

namespace {

absl::StatusOr<v1::ModelEvaluation> EvaluateOne(
    const Scored& s, const eval::Options& o,
    const std::vector<eval::SliceColumn>& columns,
    const std::vector<std::vector<std::string>>& specs, int64_t min_rows) {
  v1::ModelEvaluation m;
  m.set_model(s.model);
  m.set_algorithm(s.algorithm);
  m.set_candidate(s.candidate);
  auto metrics = eval::Evaluate(s.predictions, o);
  if (!metrics.ok()) {
    return absl::Status(metrics.status().code(),
                        StrCat(s.model, ": ", metrics.status().message()));
  }
  *m.mutable_metrics() = std::move(*metrics);
  if (!specs.empty()) {
    auto report = eval::Slice(s.predictions, o, columns, specs, min_rows);
    if (!report.ok()) return report.status();
    for (auto& x : report->slices) *m.add_slices() = std::move(x);
    for (auto& g : report->gaps) *m.add_gaps() = std::move(g);
  }
  return m;
}

// Counts the resamples of every model's bootstrap (run on several threads)
// for `report`, about 50 times in all.
class ResampleCounter {
 public:
  ResampleCounter(int64_t total,
                  const std::function<void(int64_t, int64_t)>& report)
      : total_(total),
        every_(std::max<int64_t>(1, total / 50)),
        report_(report) {}
  // For eval::Options::on_resample; null when there is nothing to report.
  std::function<void()> Callback() {
    if (!report_ || total_ <= 0) return nullptr;
    return [this] {
      std::lock_guard lock(mu_);
      if (++done_ % every_ == 0 || done_ == total_) report_(done_, total_);
    };
  }

 private:
  const int64_t total_, every_;
  const std::function<void(int64_t, int64_t)>& report_;
  std::mutex mu_;
  int64_t done_ = 0;  // GUARDED_BY(mu_)
};

// INVALID_ARGUMENT unless every model is of the candidates' first one's task
// and was scored on the same rows.
absl::Status CheckSameRows(const std::vector<const Scored*>& all) {
  const v1::Task task = all.front()->predictions.task;
  const auto& y = all.front()->predictions.y;
  for (const Scored* s : all) {
    if (s->predictions.task != task) {
      return absl::InvalidArgumentError(StrCat(
          "models: ", s->model, " is a ", v1::Task_Name(s->predictions.task),
          " model, ", all.front()->model, " ", v1::Task_Name(task)));
    }
    if (s->predictions.y != y) {
      return absl::InvalidArgumentError(
          StrCat("models: ", s->model, " was not scored on the same rows as ",
                 all.front()->model, " (", s->predictions.y.size(),
                 " labels vs ", y.size(), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Evaluation> EvaluateModels(
    const v1::EvaluateRequest& r, const std::vector<Scored>& candidates,
    const Scored* baseline, const std::vector<eval::SliceColumn>& columns,
    int threads,
    const std::function<void(int64_t done, int64_t total)>& on_bootstrap) {
  if (absl::Status s = CheckRequest(r); !s.ok()) return s;
  if (candidates.empty())
    return absl::InvalidArgumentError("models: no candidates");
  const v1::Task task = candidates.front().predictions.task;
  std::vector<const Scored*> all;
  for (const auto& c : candidates) all.push_back(&c);
  if (baseline != nullptr) all.push_back(baseline);
  if (absl::Status s = CheckSameRows(all); !s.ok()) return s;
  eval::Options o = OptionsFrom(r);
  o.threads = threads;
  ResampleCounter resamples(int64_t{o.resamples} * std::ssize(all),
                            on_bootstrap);
  o.on_resample = resamples.Callback();
  const std::string metric =
      r.metric().empty() ? eval::HeadlineMetric(task) : r.metric();
  if (const auto& known = eval::MetricsFor(task);
      std::find(known.begin(), known.end(), metric) == known.end()) {
    return absl::InvalidArgumentError(StrCat("metric: no metric \"", metric,
                                             "\" for ", v1::Task_Name(task),
                                             " models"));
  }
  v1::GateSpec gate = r.gate();
  if (gate.metric().empty()) gate.set_metric(metric);
  if (absl::Status s = eval::CheckGate(gate, task); !s.ok()) return s;
  std::vector<std::vector<std::string>> specs;
  for (const auto& s : r.slices())
    specs.emplace_back(s.columns().begin(), s.columns().end());
  const int64_t min_rows = r.min_slice_rows() > 0 ? r.min_slice_rows() : 30;

  v1::Evaluation out;
  out.set_metric(metric);
  out.set_baseline_alias(r.baseline_alias());
  std::optional<eval::Baseline> base;
  if (baseline != nullptr) {
    auto m = EvaluateOne(*baseline, o, columns, specs, min_rows);
    if (!m.ok()) return m.status();
    base = eval::Baseline{
        m->model(),
        {m->metrics().metrics().begin(), m->metrics().metrics().end()}};
    *out.mutable_baseline() = std::move(*m);
  }
  int best = -1;
  for (const auto& c : candidates) {
    auto m = EvaluateOne(c, o, columns, specs, min_rows);
    if (!m.ok()) return m.status();
    *m->mutable_verdict() = eval::Judge(
        {m->metrics().metrics().begin(), m->metrics().metrics().end()},
        base ? &*base : nullptr, gate, task);
    *out.add_candidates() = std::move(*m);
    const double v =
        eval::Find(out.candidates().rbegin()->metrics().metrics(), metric);
    if (std::isnan(v)) continue;
    if (best < 0 ||
        (eval::HigherIsBetter(metric)
             ? v > eval::Find(out.candidates(best).metrics().metrics(), metric)
             : v < eval::Find(out.candidates(best).metrics().metrics(),
                              metric))) {
      best = out.candidates_size() - 1;
    }
  }
  if (!r.chosen_model().empty()) {
    best = -1;  // Chosen already: the test part only measures it.
    for (int i = 0; i < out.candidates_size(); ++i)
      if (out.candidates(i).model() == r.chosen_model()) best = i;
    if (best < 0) {
      return absl::InvalidArgumentError(
          StrCat("chosen_model: ", r.chosen_model(), " is not one of models"));
    }
  }
  if (best >= 0) {
    out.set_best_model(out.candidates(best).model());
    out.set_blessed(out.candidates(best).verdict().blessed());
  }
  return out;
}

}  // namespace mlpipe::evaluate
