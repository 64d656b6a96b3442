#include "clients/train_request.h"

#include <cmath>
#include <map>
#include <set>

#include "common/eval/score.h"
#include "common/ml/model.h"
#include "common/util/hash.h"
#include "common/util/strings.h"

namespace mlpipe::train {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

bool IsRange(const Value& v) { return v.kind_case() == Value::kStructValue; }

struct Range {
  double min = 0, max = 0;
  bool log = false, integer = false;
};

absl::StatusOr<Range> ReadRange(const Value& v, const std::string& where) {
  Range r;
  const auto& f = v.struct_value().fields();
  for (const auto& [k, x] : f) {
    if (k != "min" && k != "max" && k != "log" && k != "int") {
      return absl::InvalidArgumentError(
          StrCat(where, ".", k, ": unknown (a range has min, max, log, int)"));
    }
  }
  if (!f.contains("min") || !f.contains("max") ||
      f.at("min").kind_case() != Value::kNumberValue ||
      f.at("max").kind_case() != Value::kNumberValue) {
    return absl::InvalidArgumentError(
        StrCat(where, ": a range needs numbers min and max"));
  }
  r.min = f.at("min").number_value();
  r.max = f.at("max").number_value();
  if (f.contains("log")) r.log = f.at("log").bool_value();
  if (f.contains("int")) r.integer = f.at("int").bool_value();
  if (!(r.min <= r.max)) {
    return absl::InvalidArgumentError(StrCat(where, ": min must be <= max"));
  }
  if (r.log && r.min <= 0) {
    return absl::InvalidArgumentError(
        StrCat(where, ": a log range needs min > 0"));
  }
  return r;
}

absl::Status CheckScalar(const Value& v, const std::string& where) {
  switch (v.kind_case()) {
    case Value::kNumberValue:
    case Value::kStringValue:
    case Value::kBoolValue:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          StrCat(where, ": must be a number, string or bool"));
  }
}

}  // namespace

absl::StatusOr<std::vector<Struct>> ExpandTrials(const v1::Candidate& candidate,
                                                 const v1::SearchSpec& search,
                                                 int index) {
  const std::string where = StrCat("candidates[", index, "].params");
  // Keys in name order (proto maps have none).
  std::map<std::string, const Value*> params;
  for (const auto& [k, v] : candidate.params().fields()) params[k] = &v;
  const bool random = search.type() == "random";
  for (const auto& [k, v] : params) {
    const std::string at = StrCat(where, ".", k);
    if (v->kind_case() == Value::kListValue) {
      if (v->list_value().values_size() == 0) {
        return absl::InvalidArgumentError(StrCat(at, ": an empty list"));
      }
      for (const auto& x : v->list_value().values()) {
        if (auto s = CheckScalar(x, at); !s.ok()) return s;
      }
    } else if (IsRange(*v)) {
      if (!random) {
        return absl::InvalidArgumentError(StrCat(
            at, ": a range needs search type random (a grid takes lists)"));
      }
      if (auto r = ReadRange(*v, at); !r.ok()) return r.status();
    } else if (auto s = CheckScalar(*v, at); !s.ok()) {
      return s;
    }
  }
  std::vector<Struct> out;
  if (!random) {
    out.emplace_back();
    for (const auto& [k, v] : params) {
      std::vector<Struct> next;
      if (v->kind_case() == Value::kListValue) {
        for (const Struct& base : out) {
          for (const auto& x : v->list_value().values()) {
            Struct s = base;
            (*s.mutable_fields())[k] = x;
            next.push_back(std::move(s));
          }
        }
      } else {
        for (Struct s : out) {
          (*s.mutable_fields())[k] = *v;
          next.push_back(std::move(s));
        }
      }
      out = std::move(next);
      if (out.size() > static_cast<size_t>(kMaxTrialsPerCandidate)) {
        return absl::InvalidArgumentError(
            StrCat(where, ": the grid has more than ", kMaxTrialsPerCandidate,
                   " settings; use search type random"));
      }
    }
    return out;
  }
  int trials = search.trials() > 0 ? search.trials() : 10;
  if (trials > kMaxTrialsPerCandidate) {
    return absl::InvalidArgumentError(
        StrCat("search.trials: at most ", kMaxTrialsPerCandidate));
  }
  UniformStream rng(SplitMix64(search.seed()) ^ StableHash(candidate.name()));
  for (int t = 0; t < trials; ++t) {
    Struct s;
    for (const auto& [k, v] : params) {
      Value chosen;
      if (v->kind_case() == Value::kListValue) {
        int n = v->list_value().values_size();
        chosen = v->list_value().values(
            std::min(n - 1, static_cast<int>(rng.Next() * n)));
      } else if (IsRange(*v)) {
        Range r = *ReadRange(*v, "");
        double u = rng.Next();
        double x = r.log ? std::exp(std::log(r.min) +
                                    u * (std::log(r.max) - std::log(r.min)))
                         : r.min + u * (r.max - r.min);
        if (r.integer) x = std::min(r.max, std::floor(x + 0.5));
        chosen.set_number_value(x);
      } else {
        chosen = *v;
      }
      (*s.mutable_fields())[k] = chosen;
    }
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

// A candidate's distributed setting: workers in range, a GBDT, no folds.
absl::Status CheckDistributed(const v1::Candidate& c, const v1::SearchSpec& s,
                              const std::string& at) {
  const int n = c.distributed().workers();
  if (n == 0) return absl::OkStatus();
  if (n < 0 || n > kMaxDistributedWorkers) {
    return absl::InvalidArgumentError(StrCat(
        at, ".distributed.workers: 1..", kMaxDistributedWorkers, ", got ", n));
  }
  if (c.algorithm() != "gbdt") {
    return absl::InvalidArgumentError(
        StrCat(at, ".distributed: only gbdt trains over several workers, not ",
               c.algorithm()));
  }
  if (s.folds() > 0) {
    return absl::InvalidArgumentError(
        StrCat(at,
               ".distributed: not with search.folds (cross-validation "
               "fits each fold alone); score on the eval part"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTrainingRequest(const v1::StartTrainingRequest& r) {
  if (r.split().empty()) return absl::InvalidArgumentError("split: required");
  if (r.candidates().empty()) {
    return absl::InvalidArgumentError("candidates: at least one is required");
  }
  const auto& s = r.search();
  if (!s.type().empty() && s.type() != "grid" && s.type() != "random") {
    return absl::InvalidArgumentError(
        StrCat("search.type: must be grid or random, got \"", s.type(), "\""));
  }
  if (s.folds() == 1 || s.folds() < 0 || s.folds() > 100) {
    return absl::InvalidArgumentError("search.folds: 0 (eval part) or 2..100");
  }
  if (s.trials() < 0)
    return absl::InvalidArgumentError("search.trials: must be >= 0");
  if (!s.metric().empty()) {
    bool known = false;
    for (v1::Task t :
         {v1::BINARY, v1::MULTICLASS, v1::REGRESSION, v1::CLUSTERING}) {
      for (const auto& m : eval::MetricsFor(t)) known |= m == s.metric();
    }
    if (!known) {
      return absl::InvalidArgumentError(
          StrCat("search.metric: unknown \"", s.metric(),
                 "\" (auc, logloss, accuracy, rmse, mae, r2, inertia)"));
    }
  }
  static const std::set<std::string> tasks = {"", "binary", "multiclass",
                                              "regression", "clustering"};
  if (!tasks.contains(r.task())) {
    return absl::InvalidArgumentError(StrCat(
        "task: must be binary, multiclass, regression or clustering, got \"",
        r.task(), "\""));
  }
  if (r.threads_per_candidate() < 0 || r.threads_per_candidate() > 256) {
    return absl::InvalidArgumentError("threads_per_candidate: 0..256");
  }
  if (r.checkpoint_every() < 0) {
    return absl::InvalidArgumentError("checkpoint_every: must be >= 0");
  }
  std::set<std::string> names;
  for (int i = 0; i < r.candidates_size(); ++i) {
    const auto& c = r.candidates(i);
    const std::string at = StrCat("candidates[", i, "]");
    if (c.name().empty())
      return absl::InvalidArgumentError(StrCat(at, ".name: required"));
    for (char ch : c.name()) {
      if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' &&
          ch != '-') {
        return absl::InvalidArgumentError(
            StrCat(at, ".name: \"", c.name(),
                   "\" may hold letters, digits, '_' and '-' only"));
      }
    }
    if (!names.insert(c.name()).second) {
      return absl::InvalidArgumentError(
          StrCat(at, ".name: \"", c.name(), "\" is used twice"));
    }
    bool known = false;
    for (const auto& a : ml::Algorithms()) known |= a == c.algorithm();
    if (!known) {
      std::string list;
      for (const auto& a : ml::Algorithms())
        StrAppend(&list, list.empty() ? "" : ", ", a);
      return absl::InvalidArgumentError(StrCat(at, ".algorithm: unknown \"",
                                               c.algorithm(),
                                               "\" (known: ", list, ")"));
    }
    if (auto st = CheckDistributed(c, s, at); !st.ok()) return st;
    auto trials = ExpandTrials(c, s, i);
    if (!trials.ok()) return trials.status();
    // Each trial's values as the algorithm reads them (names, ranges).
    v1::Task task = v1::TASK_UNSPECIFIED;
    if (!r.task().empty()) {
      std::string upper = r.task();
      for (auto& ch : upper) ch = static_cast<char>(std::toupper(ch));
      v1::Task_Parse(upper, &task);
    }
    for (const auto& settings : *trials) {
      if (auto st = ml::CheckParams(c.algorithm(), settings,
                                    StrCat(at, ".params"), task);
          !st.ok())
        return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::train
