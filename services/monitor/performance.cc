#include "services/monitor/performance.h"

#include <algorithm>
#include <cmath>

#include "common/util/strings.h"

namespace mlpipe::monitor {

absl::StatusOr<std::string> ActualClass(const google::protobuf::Value& actual) {
  using google::protobuf::Value;
  if (actual.kind_case() == Value::kStringValue) return actual.string_value();
  if (actual.kind_case() == Value::kNumberValue) {
    const double v = actual.number_value();  // Classes read as numbers: "1".
    return v == std::trunc(v) && std::fabs(v) < 1e15
               ? StrCat(static_cast<int64_t>(v))
               : StrCat(v);
  }
  return absl::InvalidArgumentError("actual: expected a class");
}

PerformanceAccumulator::PerformanceAccumulator(
    v1::Task task, std::vector<std::string> classes) {
  state_.set_task(task);
  for (auto& c : classes) state_.add_classes(std::move(c));
  if (task == v1::BINARY) {
    state_.mutable_positive_bins()->Resize(kAucBins, 0);
    state_.mutable_negative_bins()->Resize(kAucBins, 0);
  }
}

absl::StatusOr<PerformanceAccumulator> PerformanceAccumulator::FromProto(
    const v1::PerformanceState& state) {
  auto bad = [](const std::string& why) {
    return absl::DataLossError(StrCat("performance state: ", why));
  };
  if (state.task() == v1::BINARY) {
    if (state.classes_size() != 2) return bad("a binary model has 2 classes");
    if (state.positive_bins_size() != kAucBins ||
        state.negative_bins_size() != kAucBins)
      return bad(StrCat("expected ", kAucBins, " AUC bins"));
  }
  uint64_t classes = 0;
  for (const auto& [c, n] : state.actual_classes()) classes += n;
  if (state.task() != v1::REGRESSION && classes != state.count())
    return bad("actual classes do not add up to the count");
  if (state.correct() > state.count()) return bad("more correct than pairs");
  return PerformanceAccumulator(state);
}

absl::Status PerformanceAccumulator::Add(
    const std::vector<double>& scores, const std::string& label,
    const google::protobuf::Value& actual) {
  using google::protobuf::Value;
  const v1::Task task = state_.task();
  if (task == v1::REGRESSION) {
    if (actual.kind_case() != Value::kNumberValue ||
        !std::isfinite(actual.number_value()))
      return absl::InvalidArgumentError(
          "actual: a regression model's actual is a finite number");
    if (scores.size() != 1)
      return absl::InvalidArgumentError("scores: expected one value");
    const double y = actual.number_value(), e = scores[0] - y;
    state_.set_count(state_.count() + 1);
    state_.set_sum_squared_error(state_.sum_squared_error() + e * e);
    state_.set_sum_squared_error_squared(state_.sum_squared_error_squared() +
                                         e * e * e * e);
    state_.set_sum_absolute_error(state_.sum_absolute_error() + std::fabs(e));
    const double delta = y - state_.mean_actual();
    state_.set_mean_actual(state_.mean_actual() +
                           delta / static_cast<double>(state_.count()));
    state_.set_m2_actual(state_.m2_actual() +
                         delta * (y - state_.mean_actual()));
    return absl::OkStatus();
  }
  if (task != v1::BINARY && task != v1::MULTICLASS)
    return absl::InvalidArgumentError(StrCat("actuals: a ", v1::Task_Name(task),
                                             " model has no ground truth"));
  auto y = ActualClass(actual);
  if (!y.ok()) return y.status();
  const auto& cs = state_.classes();
  if (std::find(cs.begin(), cs.end(), *y) == cs.end()) {
    return absl::InvalidArgumentError(
        StrCat("actual: '", *y, "' is not one of the model's classes"));
  }
  double p_true = NAN;  // The probability given to the true class.
  if (task == v1::BINARY) {
    if (scores.size() != 1 || !std::isfinite(scores[0]))
      return absl::InvalidArgumentError("scores: expected P(positive)");
    const int bin =
        std::clamp(static_cast<int>(scores[0] * kAucBins), 0, kAucBins - 1);
    auto* bins = *y == cs[1] ? state_.mutable_positive_bins()
                             : state_.mutable_negative_bins();
    bins->Set(bin, bins->Get(bin) + 1);
    p_true = *y == cs[1] ? scores[0] : 1 - scores[0];
  } else if (static_cast<int>(scores.size()) == cs.size()) {
    p_true = scores[std::find(cs.begin(), cs.end(), *y) - cs.begin()];
  }
  if (std::isfinite(p_true)) {
    const double loss = -std::log(std::clamp(p_true, 1e-15, 1.0));
    state_.set_sum_log_loss(state_.sum_log_loss() + loss);
    state_.set_sum_log_loss_squared(state_.sum_log_loss_squared() +
                                    loss * loss);
  }
  state_.set_count(state_.count() + 1);
  if (label == *y) state_.set_correct(state_.correct() + 1);
  (*state_.mutable_actual_classes())[*y] += 1;
  return absl::OkStatus();
}

absl::Status PerformanceAccumulator::Merge(const PerformanceAccumulator& o) {
  const auto& a = state_;
  const auto& b = o.state_;
  if (a.task() != b.task() ||
      !std::equal(a.classes().begin(), a.classes().end(), b.classes().begin(),
                  b.classes().end())) {
    return absl::InvalidArgumentError(
        "performance of different tasks or classes cannot be merged");
  }
  // Chan et al.'s merge of the actuals' mean and squared deviations.
  const double na = static_cast<double>(a.count());
  const double nb = static_cast<double>(b.count());
  if (na + nb > 0) {
    const double delta = b.mean_actual() - a.mean_actual();
    const double m2 =
        a.m2_actual() + b.m2_actual() + delta * delta * na * nb / (na + nb);
    state_.set_mean_actual(a.mean_actual() + delta * nb / (na + nb));
    state_.set_m2_actual(m2);
  }
  state_.set_count(a.count() + b.count());
  state_.set_correct(a.correct() + b.correct());
  for (int i = 0; i < b.positive_bins_size(); ++i) {
    state_.set_positive_bins(i, a.positive_bins(i) + b.positive_bins(i));
    state_.set_negative_bins(i, a.negative_bins(i) + b.negative_bins(i));
  }
  state_.set_sum_squared_error(a.sum_squared_error() + b.sum_squared_error());
  state_.set_sum_absolute_error(a.sum_absolute_error() +
                                b.sum_absolute_error());
  state_.set_sum_squared_error_squared(a.sum_squared_error_squared() +
                                       b.sum_squared_error_squared());
  state_.set_sum_log_loss(a.sum_log_loss() + b.sum_log_loss());
  state_.set_sum_log_loss_squared(a.sum_log_loss_squared() +
                                  b.sum_log_loss_squared());
  for (const auto& [c, n] : b.actual_classes())
    (*state_.mutable_actual_classes())[c] += n;
  return absl::OkStatus();
}

v1::Performance PerformanceAccumulator::Summary() const {
  v1::Performance p;
  const auto& s = state_;
  const double n = static_cast<double>(s.count());
  p.set_count(s.count());
  if (s.count() == 0) return p;
  if (s.task() == v1::REGRESSION) {
    p.set_rmse(std::sqrt(s.sum_squared_error() / n));
    p.set_mae(s.sum_absolute_error() / n);
    p.set_r2(s.m2_actual() > 0 ? 1 - s.sum_squared_error() / s.m2_actual()
                               : NAN);
    return p;
  }
  p.set_accuracy(static_cast<double>(s.correct()) / n);
  if (s.task() == v1::BINARY) {
    // Mann-Whitney: per bin, negatives below count fully, the same bin half.
    double pos = 0, neg = 0, wins = 0;
    for (int i = 0; i < s.positive_bins_size(); ++i) {
      const double bp = static_cast<double>(s.positive_bins(i));
      const double bn = static_cast<double>(s.negative_bins(i));
      wins += bp * (neg + bn / 2);
      pos += bp;
      neg += bn;
    }
    p.set_auc(pos > 0 && neg > 0 ? wins / (pos * neg) : NAN);
  }
  return p;
}

}  // namespace mlpipe::monitor
