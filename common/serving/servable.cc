#include "common/serving/servable.h"

#include <cmath>

#include "absl/strings/str_join.h"
#include "common/ml/artifact.h"
#include "common/util/strings.h"

namespace mlpipe::serving {
namespace {

bool IsStringType(v1::ColumnType t) {
  return t == v1::CATEGORICAL || t == v1::TEXT;
}

// Problems found in a request, reported together (up to ten).
class Problems {
 public:
  void Add(std::string p) {
    if (list_.size() < 10) list_.push_back(std::move(p));
    ++count_;
  }
  size_t count() const { return count_; }
  absl::Status ToStatus() const {
    if (count_ == 0) return absl::OkStatus();
    std::string msg = absl::StrJoin(list_, "; ");
    if (count_ > list_.size())
      StrAppend(&msg, "; and ", count_ - list_.size(), " more");
    return absl::InvalidArgumentError(msg);
  }

 private:
  std::vector<std::string> list_;
  size_t count_ = 0;
};

// Row-major features from NUMERIC columns `names` of `t` (NaN where
// missing).
absl::Status ToMatrix(
    const table::Table& t,
    const google::protobuf::RepeatedPtrField<std::string>& names,
    std::vector<double>* x) {
  const size_t d = names.size(), n = t.num_rows;
  x->assign(n * d, 0.0);
  for (size_t j = 0; j < d; ++j) {
    int c = t.Find(names[j]);
    if (c < 0) {
      return absl::FailedPreconditionError(
          StrCat("feature '", names[j], "' is not among the rows' columns"));
    }
    const table::Column& col = t.columns[c];
    if (col.type != table::ColumnType::kNumeric &&
        col.type != table::ColumnType::kUnknown) {
      return absl::FailedPreconditionError(
          StrCat("feature '", names[j], "' is not numeric"));
    }
    for (size_t r = 0; r < n; ++r) {
      (*x)[r * d + j] =
          col.type == table::ColumnType::kNumeric && col.IsValid(r)
              ? col.numbers[r]
              : std::nan("");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<Servable>> Servable::Load(
    const v1::ModelArtifact& artifact) {
  if (auto s = ml::CheckArtifact(artifact); !s.ok()) return s;
  if (artifact.learned().kind_case() == v1::LearnedParameters::KIND_NOT_SET) {
    return absl::FailedPreconditionError(
        StrCat("model ", artifact.id(), " has no learned parameters"));
  }
  auto model = ml::LoadModel(artifact.task(), artifact.feature_names_size(),
                             artifact.classes_size(), artifact.learned());
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        StrCat("model ", artifact.id(), ": ",
                               std::string(model.status().message())));
  }
  return Create(artifact, std::move(*model));
}

absl::StatusOr<std::shared_ptr<Servable>> Servable::Create(
    const v1::ModelArtifact& artifact, std::unique_ptr<ml::Model> model) {
  if (auto s = features::CheckFitted(artifact.transform()); !s.ok()) {
    return absl::DataLossError(
        StrCat("model ", artifact.id(), ": ", s.message()));
  }
  v1::ModelArtifact summary = artifact;
  summary.clear_learned();
  summary.clear_transform();
  std::shared_ptr<Servable> s(
      new Servable(std::move(summary), std::move(model), artifact.transform()));
  const auto& names = s->transform_.output_names();
  if (names.size() != static_cast<size_t>(artifact.feature_names_size())) {
    return absl::DataLossError(
        StrCat("model ", artifact.id(), ": its transform makes ", names.size(),
               " features, the model takes ", artifact.feature_names_size()));
  }
  for (int j = 0; j < artifact.feature_names_size(); ++j) {
    if (names[j] != artifact.feature_names(j)) {
      return absl::DataLossError(StrCat("model ", artifact.id(), ": feature ",
                                        j, " is '", artifact.feature_names(j),
                                        "', its transform makes '", names[j],
                                        "'"));
    }
  }
  return s;
}

Servable::Servable(v1::ModelArtifact summary, std::unique_ptr<ml::Model> model,
                   v1::FittedTransform transform)
    : summary_(std::move(summary)),
      model_(std::move(model)),
      transform_(std::move(transform)),
      takes_missing_(ml::TakesMissingValues(summary_.algorithm())) {
  std::unordered_map<std::string, std::string> output_input;
  for (const auto& c : transform_.fitted().columns()) {
    input_index_.emplace(c.input(), inputs_.size());
    inputs_.push_back(
        {c.input(), c.input_type(), IsStringType(c.input_type())});
    for (const auto& o : c.outputs()) output_input[o] = c.input();
  }
  for (const auto& f : transform_.output_names()) {
    auto it = output_input.find(f);
    feature_input_.push_back(it == output_input.end() ? f : it->second);
  }
}

absl::Status Servable::Features(const std::vector<RawRow>& rows,
                                bool ignore_extra,
                                std::vector<double>* x) const {
  const size_t d = num_features();
  x->resize(rows.size() * d);
  Problems problems;
  std::vector<double> out;
  for (size_t r = 0; r < rows.size(); ++r) {
    const RawRow& row = rows[r];
    size_t before = problems.count();
    std::string missing;
    for (const InputField& in : inputs_) {
      auto it = row.find(in.name);
      if (it == row.end()) {
        StrAppend(&missing, missing.empty() ? "" : ", ", in.name);
        continue;
      }
      const features::RawValue& v = it->second;
      if (in.is_string && std::holds_alternative<double>(v)) {
        problems.Add(StrCat("rows[", r, "].", in.name,
                            ": expected a string, got a number"));
      } else if (!in.is_string && std::holds_alternative<std::string>(v)) {
        problems.Add(StrCat("rows[", r, "].", in.name,
                            ": expected a number, got a string"));
      } else if (!in.is_string && std::holds_alternative<double>(v) &&
                 std::isinf(std::get<double>(v))) {
        problems.Add(
            StrCat("rows[", r, "].", in.name, ": not a finite number"));
      }
    }
    if (!missing.empty()) {
      problems.Add(StrCat("rows[", r, "]: missing field",
                          missing.find(',') == std::string::npos ? " " : "s ",
                          missing));
    }
    if (!ignore_extra) {
      for (const auto& [name, v] : row) {
        if (!input_index_.contains(name)) {
          problems.Add(StrCat("rows[", r, "].", name, ": unknown field (model ",
                              version(), " does not read it)"));
        }
      }
    }
    if (problems.count() > before) continue;
    if (auto s = transform_.ApplyRow(row, &out); !s.ok()) {
      problems.Add(StrCat("rows[", r, "]: ", std::string(s.message())));
      continue;
    }
    if (!takes_missing_) {
      for (size_t j = 0; j < d; ++j) {
        if (std::isnan(out[j])) {
          problems.Add(StrCat("rows[", r, "].", feature_input_[j],
                              ": missing value (model ", version(), ", ",
                              summary_.algorithm(),
                              ", cannot take one and its transform does not "
                              "impute it)"));
          break;
        }
      }
    }
    std::copy(out.begin(), out.end(), x->begin() + r * d);
  }
  return problems.ToStatus();
}

absl::Status Servable::TableFeatures(const table::Table& t, bool raw,
                                     const std::string& what,
                                     std::vector<double>* x) const {
  if (raw) {
    auto features = transform_.ApplyBatch(t);
    if (!features.ok()) {
      return absl::Status(
          features.status().code(),
          StrCat(what, ": ", std::string(features.status().message())));
    }
    if (auto s = ToMatrix(*features, summary_.feature_names(), x); !s.ok())
      return s;
  } else if (auto s = ToMatrix(t, summary_.feature_names(), x); !s.ok()) {
    return s;
  }
  return CheckFeatures(x->data(), t.num_rows, what);
}

absl::Status Servable::CheckFeatures(const double* x, size_t rows,
                                     const std::string& what) const {
  if (takes_missing_) return absl::OkStatus();
  const size_t d = num_features();
  for (size_t r = 0; r < rows; ++r) {
    for (size_t j = 0; j < d; ++j) {
      if (std::isnan(x[r * d + j])) {
        return absl::InvalidArgumentError(
            StrCat(what, "[", r, "]: feature ", summary_.feature_names(j),
                   " is missing and model ", version(),
                   " cannot take a missing value"));
      }
    }
  }
  return absl::OkStatus();
}

std::string Servable::Label(const double* scores) const {
  switch (summary_.task()) {
    case v1::BINARY:
      if (summary_.classes_size() < 2) return "";
      return summary_.classes(scores[0] >= 0.5 ? 1 : 0);
    case v1::MULTICLASS: {
      int best = 0;
      for (int k = 1; k < width(); ++k)
        if (scores[k] > scores[best]) best = k;
      return best < summary_.classes_size() ? summary_.classes(best) : "";
    }
    default:
      return "";
  }
}

void Servable::Fill(const double* scores, v1::Prediction* out) const {
  switch (summary_.task()) {
    case v1::BINARY:
      out->set_label(Label(scores));
      out->add_probabilities(1.0 - scores[0]);
      out->add_probabilities(scores[0]);
      out->set_value(scores[0]);
      break;
    case v1::MULTICLASS:
      out->set_label(Label(scores));
      for (int k = 0; k < width(); ++k) out->add_probabilities(scores[k]);
      break;
    case v1::REGRESSION:
      out->set_value(scores[0]);
      break;
    case v1::CLUSTERING:
      out->set_cluster(static_cast<int32_t>(scores[0]));
      out->set_value(scores[0]);
      break;
    default:
      break;
  }
}

}  // namespace mlpipe::serving
