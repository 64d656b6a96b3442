#include "common/ml/table_data.h"

#include <cmath>

#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "common/util/strings.h"

namespace mlpipe::ml {

LabelEncoder::LabelEncoder(v1::Task task, std::vector<std::string> classes)
    : task_(task), classes_(std::move(classes)) {
  for (size_t i = 0; i < classes_.size(); ++i) index_[classes_[i]] = i;
}

absl::StatusOr<double> LabelEncoder::Encode(const table::Column& c,
                                            size_t row) const {
  if (!c.IsValid(row)) return NAN;
  if (task_ == v1::REGRESSION) {
    if (c.type != table::ColumnType::kNumeric) {
      return absl::InvalidArgumentError(
          StrCat("label ", c.name, ": regression needs a numeric label, got ",
                 table::ColumnTypeName(c.type)));
    }
    return c.numbers[row];
  }
  std::string key;
  if (c.type == table::ColumnType::kNumeric) {
    table::AppendNumber(c.numbers[row], &key);
  } else if (table::IsStringType(c.type)) {
    key = c.strings[row];
  } else {
    return absl::InvalidArgumentError(
        StrCat("label ", c.name, ": a ", table::ColumnTypeName(c.type),
               " column cannot be a class label"));
  }
  auto it = index_.find(key);
  if (it == index_.end()) {
    return absl::InvalidArgumentError(
        StrCat("label ", c.name, ": class \"", key,
               "\" is not one of the split's classes"));
  }
  return it->second;
}

TrainingDataBuilder::TrainingDataBuilder(std::vector<std::string> features,
                                         std::string label,
                                         LabelEncoder encoder)
    : features_(std::move(features)),
      label_(std::move(label)),
      encoder_(std::move(encoder)) {
  data_.x.cols = features_.size();
  data_.features = features_;
  data_.num_classes =
      encoder_.task() == v1::BINARY || encoder_.task() == v1::MULTICLASS
          ? static_cast<int>(encoder_.classes().size())
          : 0;
}

absl::Status TrainingDataBuilder::Append(const table::Table& t) {
  v1::Frame frame;
  table::TableToFrame(t, &frame);
  return AppendFrame(frame);
}

absl::Status TrainingDataBuilder::AppendFrame(
    const v1::Frame& frame, const std::vector<uint32_t>* rows) {
  const size_t n = static_cast<size_t>(frame.num_rows());
  std::vector<const v1::Column*> cols(features_.size(), nullptr);
  const v1::Column* label = nullptr;
  for (const auto& c : frame.columns()) {
    if (!label_.empty() && c.name() == label_) label = &c;
  }
  for (size_t j = 0; j < features_.size(); ++j) {
    for (const auto& c : frame.columns()) {
      if (c.name() == features_[j]) cols[j] = &c;
    }
    const v1::Column* c = cols[j];
    if (c == nullptr) {
      return absl::InvalidArgumentError(
          StrCat("feature ", features_[j], ": not in the rows"));
    }
    if (c->type() == v1::NUMERIC ? static_cast<size_t>(c->numbers_size()) != n
                                 : c->type() != v1::COLUMN_TYPE_UNSPECIFIED) {
      return absl::InvalidArgumentError(
          StrCat("feature ", features_[j],
                 ": must be numeric with one value per row"));
    }
    if (!c->validity().empty() && c->validity().size() != (n + 7) / 8) {
      return absl::InvalidArgumentError(
          StrCat("feature ", features_[j], ": bad validity"));
    }
  }
  table::Column label_column;
  if (!label_.empty()) {
    if (label == nullptr) {
      return absl::InvalidArgumentError(
          StrCat("label ", label_, ": not in the rows"));
    }
    auto c = table::ColumnFromProto(v1::Column(*label), n);
    if (!c.ok()) return c.status();
    label_column = std::move(*c);
  }
  const size_t d = features_.size();
  const size_t count = rows != nullptr ? rows->size() : n;
  for (size_t k = 0; k < count; ++k) {
    const size_t r = rows != nullptr ? (*rows)[k] : k;
    if (r >= n) return absl::InvalidArgumentError("rows: index past the frame");
    if (!label_.empty()) {
      auto y = encoder_.Encode(label_column, r);
      if (!y.ok()) return y.status();
      if (std::isnan(*y)) {
        ++skipped_;
        continue;
      }
      data_.y.push_back(*y);
    }
    for (size_t j = 0; j < d; ++j) {
      const v1::Column& c = *cols[j];
      const std::string& valid = c.validity();
      bool has = c.type() == v1::NUMERIC &&
                 (valid.empty() ||
                  (static_cast<uint8_t>(valid[r >> 3]) >> (r & 7)) & 1);
      data_.x.values.push_back(has ? c.numbers(static_cast<int>(r)) : NAN);
    }
    ++data_.x.rows;
  }
  return absl::OkStatus();
}

TrainingData TrainingDataBuilder::Finish() { return std::move(data_); }

}  // namespace mlpipe::ml
