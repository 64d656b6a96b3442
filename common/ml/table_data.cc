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

namespace {

// Value i of a column as text, for grouping.
void AppendText(const v1::Column& c, size_t i, std::string* out) {
  const std::string& v = c.validity();
  if (!v.empty() && !((static_cast<uint8_t>(v[i >> 3]) >> (i & 7)) & 1)) {
    *out = kMissingText;
    return;
  }
  out->clear();
  switch (c.type()) {
    case v1::NUMERIC:
      table::AppendNumber(table::NumberAt(c, i), out);
      break;
    case v1::TIMESTAMP:
      *out = std::to_string(c.timestamps(static_cast<int>(i)));
      break;
    case v1::CATEGORICAL:
    case v1::TEXT:
      *out = c.codes_size() > 0 ? c.dictionary(c.codes(static_cast<int>(i)))
                                : c.strings(static_cast<int>(i));
      break;
    default:
      *out = kMissingText;
  }
}

}  // namespace

absl::Status FlattenAssignments(const std::vector<v1::SplitAssignments>& chunks,
                                int64_t rows, std::vector<uint8_t>* parts,
                                std::vector<uint8_t>* folds) {
  parts->clear();
  parts->reserve(rows);
  if (folds != nullptr) folds->clear();
  for (const auto& c : chunks) {
    parts->insert(parts->end(), c.parts().begin(), c.parts().end());
    if (folds != nullptr) {
      folds->insert(folds->end(), c.folds().begin(), c.folds().end());
      folds->resize(parts->size(), 255);
    }
  }
  if (static_cast<int64_t>(parts->size()) != rows) {
    return absl::DataLossError(
        StrCat("split: ", parts->size(), " assignments for ", rows, " rows"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<PartRows>> ReadParts(table::FrameReader& reader,
                                                const PartRowsSpec& spec,
                                                const LabelEncoder& encoder) {
  const auto& assignment = *spec.assignment;
  const size_t wanted = spec.parts.size();
  std::vector<TrainingDataBuilder> builders;
  // Reserved first: a builder moved by the vector's growth would lose the
  // capacity reserved for its rows (and then grow its matrix by copies).
  builders.reserve(wanted);
  std::vector<PartRows> out(wanted);
  std::vector<std::vector<uint32_t>> rows(wanted);
  for (size_t p = 0; p < wanted; ++p) {
    builders.emplace_back(spec.features, spec.label, encoder);
    if (p < spec.reserve.size()) builders[p].Reserve(spec.reserve[p]);
  }
  // Which output a part index goes to (-1: none).
  std::vector<int> output(256, -1);
  for (size_t p = 0; p < wanted; ++p)
    output[spec.parts[p] & 255] = static_cast<int>(p);
  v1::Frame frame;
  std::string text;
  while (true) {
    auto more = reader.Next(&frame);
    if (!more.ok()) return more.status();
    if (!*more) break;
    const v1::Column* label = nullptr;
    std::vector<const v1::Column*> texts(spec.text_columns.size(), nullptr);
    for (const auto& c : frame.columns()) {
      if (!spec.label.empty() && c.name() == spec.label) label = &c;
      for (size_t t = 0; t < texts.size(); ++t) {
        if (c.name() == spec.text_columns[t]) texts[t] = &c;
      }
    }
    for (size_t t = 0; t < texts.size(); ++t) {
      if (texts[t] == nullptr) {
        return absl::InvalidArgumentError(
            StrCat("column ", spec.text_columns[t], ": not in the rows"));
      }
    }
    // Rows without a label can neither train nor score: left out here, so
    // the folds stay aligned with the rows kept.
    auto labelled = [&](size_t i) {
      if (label == nullptr) return true;
      const std::string& v = label->validity();
      return v.empty() || ((static_cast<uint8_t>(v[i >> 3]) >> (i & 7)) & 1);
    };
    for (auto& r : rows) r.clear();
    const int64_t offset = frame.row_offset();
    for (int64_t i = 0; i < frame.num_rows(); ++i) {
      const size_t row = static_cast<size_t>(offset + i);
      if (row >= assignment.size())
        return absl::DataLossError("feature set longer than its split");
      const int p = output[assignment[row]];
      if (p < 0 || !labelled(i)) continue;
      rows[p].push_back(static_cast<uint32_t>(i));
      if (spec.folds != nullptr) out[p].folds.push_back((*spec.folds)[row]);
      for (size_t t = 0; t < texts.size(); ++t) {
        AppendText(*texts[t], i, &text);
        out[p].text[spec.text_columns[t]].push_back(text);
      }
    }
    for (size_t p = 0; p < wanted; ++p) {
      if (auto s = builders[p].AppendFrame(frame, &rows[p]); !s.ok()) return s;
    }
    frame.Clear();
  }
  for (size_t p = 0; p < wanted; ++p) out[p].data = builders[p].Finish();
  return out;
}

}  // namespace mlpipe::ml
