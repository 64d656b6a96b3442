#include "common/ml/table_data.h"

#include <algorithm>
#include <cmath>

#include "common/table/frame_codec.h"
#include "common/table/typing.h"
#include "common/util/strings.h"

namespace mlpipe::ml {

LabelEncoder::LabelEncoder(v1::Task task, std::vector<std::string> classes)
    : task_(task), classes_(std::move(classes)) {
  for (size_t i = 0; i < classes_.size(); ++i) index_[classes_[i]] = i;
}

absl::StatusOr<double> LabelEncoder::Class(const std::string& name,
                                           const std::string& key) const {
  auto it = index_.find(key);
  if (it == index_.end()) {
    return absl::InvalidArgumentError(
        StrCat("label ", name, ": class \"", key,
               "\" is not one of the split's classes"));
  }
  return it->second;
}

absl::Status LabelEncoder::EncodeRows(const v1::Column& c, size_t n,
                                      const std::vector<uint32_t>& rows,
                                      std::vector<double>* out) const {
  out->resize(rows.size());
  const std::string& valid = c.validity();
  if (!valid.empty() && valid.size() != (n + 7) / 8) {
    return absl::InvalidArgumentError(
        StrCat("label ", c.name(), ": bad validity"));
  }
  auto present = [&valid](size_t r) {
    return valid.empty() ||
           ((static_cast<uint8_t>(valid[r >> 3]) >> (r & 7)) & 1);
  };
  const bool numeric = c.type() == v1::NUMERIC;
  const bool dictionary = c.codes_size() > 0 || c.dictionary_size() > 0;
  if (c.type() == v1::COLUMN_TYPE_UNSPECIFIED) {
    std::fill(out->begin(), out->end(), NAN);  // Every value missing.
    return absl::OkStatus();
  }
  if (task_ == v1::REGRESSION && !numeric) {
    return absl::InvalidArgumentError(
        StrCat("label ", c.name(), ": regression needs a numeric label, got ",
               v1::ColumnType_Name(c.type())));
  }
  if (!numeric && c.type() != v1::CATEGORICAL && c.type() != v1::TEXT) {
    return absl::InvalidArgumentError(
        StrCat("label ", c.name(), ": a ", v1::ColumnType_Name(c.type()),
               " column cannot be a class label"));
  }
  const size_t values = numeric      ? table::NumberCount(c, n)
                        : dictionary ? c.codes_size()
                                     : c.strings_size();
  if (values != n) {
    return absl::InvalidArgumentError(
        StrCat("label ", c.name(), ": ", values, " values for ", n, " rows"));
  }
  // Classes of dictionary entries, found when first used (-1: not yet).
  std::vector<double> by_code(dictionary ? c.dictionary_size() : 0, -1);
  const std::string* last_key = nullptr;
  double last_number = NAN, last_class = NAN;
  std::string key;
  for (size_t k = 0; k < rows.size(); ++k) {
    const uint32_t r = rows[k];
    if (r >= n) return absl::InvalidArgumentError("rows: index past the frame");
    if (!present(r)) {
      (*out)[k] = NAN;
      continue;
    }
    if (task_ == v1::REGRESSION) {
      (*out)[k] = table::NumberAt(c, r);
      continue;
    }
    if (numeric) {
      const double v = table::NumberAt(c, r);
      if (!(v == last_number)) {
        key.clear();
        table::AppendNumber(v, &key);
        auto cls = Class(c.name(), key);
        if (!cls.ok()) return cls.status();
        last_number = v;
        last_class = *cls;
      }
      (*out)[k] = last_class;
    } else if (dictionary) {
      const uint32_t code = c.codes(r);
      if (code >= by_code.size()) {
        return absl::InvalidArgumentError(StrCat("label ", c.name(), ": code ",
                                                 code, " past the dictionary"));
      }
      if (by_code[code] < 0) {
        auto cls = Class(c.name(), c.dictionary(code));
        if (!cls.ok()) return cls.status();
        by_code[code] = *cls;
      }
      (*out)[k] = by_code[code];
    } else {
      const std::string& s = c.strings(r);
      if (last_key == nullptr || s != *last_key) {
        auto cls = Class(c.name(), s);
        if (!cls.ok()) return cls.status();
        last_key = &s;
        last_class = *cls;
      }
      (*out)[k] = last_class;
    }
  }
  return absl::OkStatus();
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

void TrainingDataBuilder::Reserve(size_t rows) {
  auto& v = data_.x.values;
  v.reserve(rows * features_.size());
  AdviseHugePages(v.data(), v.capacity() * sizeof(double));
  data_.y.reserve(rows);
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
    if (c->type() == v1::NUMERIC ? table::NumberCount(*c, n) != n
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
  if (!label_.empty() && label == nullptr) {
    return absl::InvalidArgumentError(
        StrCat("label ", label_, ": not in the rows"));
  }
  if (rows == nullptr) {
    all_rows_.resize(n);
    for (size_t i = 0; i < n; ++i) all_rows_[i] = static_cast<uint32_t>(i);
    rows = &all_rows_;
  }
  // The rows kept (a label, when there is one) and their labels.
  const std::vector<uint32_t>* kept = rows;
  if (!label_.empty()) {
    if (auto s = encoder_.EncodeRows(*label, n, *rows, &labels_); !s.ok())
      return s;
    kept_.clear();
    for (size_t k = 0; k < rows->size(); ++k) {
      if (std::isnan(labels_[k])) {
        ++skipped_;
      } else {
        kept_.push_back((*rows)[k]);
        data_.y.push_back(labels_[k]);
      }
    }
    kept = &kept_;
  }
  for (uint32_t r : *kept) {
    if (r >= n) return absl::InvalidArgumentError("rows: index past the frame");
  }
  // Column-major in, row-major out: in blocks of rows, so the block's
  // output rows stay in cache while each column is written into them.
  const size_t d = features_.size();
  const size_t base = data_.x.rows;
  const size_t count = kept->size();
  data_.x.values.resize((base + count) * d);
  double* out = data_.x.values.data() + base * d;
  constexpr size_t kBlock = 256;
  for (size_t k0 = 0; k0 < count; k0 += kBlock) {
    const size_t k1 = std::min(count, k0 + kBlock);
    for (size_t j = 0; j < d; ++j) {
      const v1::Column& c = *cols[j];
      double* dst = out + j;
      if (c.type() != v1::NUMERIC) {  // Every value missing.
        for (size_t k = k0; k < k1; ++k) dst[k * d] = NAN;
        continue;
      }
      const double* src = c.numbers().data();
      const std::string& valid = c.validity();
      if (!c.bits().empty()) {  // 0/1 values (missing ones are 0 too).
        const auto* bits = reinterpret_cast<const uint8_t*>(c.bits().data());
        for (size_t k = k0; k < k1; ++k) {
          const uint32_t r = (*kept)[k];
          dst[k * d] =
              valid.empty() ||
                      (static_cast<uint8_t>(valid[r >> 3]) >> (r & 7)) & 1
                  ? (bits[r >> 3] >> (r & 7)) & 1
                  : NAN;
        }
      } else if (valid.empty()) {
        for (size_t k = k0; k < k1; ++k) dst[k * d] = src[(*kept)[k]];
      } else {
        for (size_t k = k0; k < k1; ++k) {
          const uint32_t r = (*kept)[k];
          dst[k * d] = (static_cast<uint8_t>(valid[r >> 3]) >> (r & 7)) & 1
                           ? src[r]
                           : NAN;
        }
      }
    }
  }
  data_.x.rows += count;
  return absl::OkStatus();
}

TrainingData TrainingDataBuilder::Finish() { return std::move(data_); }

}  // namespace mlpipe::ml
