#include "services/monitor/reference.h"

#include <algorithm>

#include "common/ml/table_data.h"
#include "common/serving/servable.h"
#include "common/table/frame_codec.h"
#include "common/util/strings.h"

namespace mlpipe::monitor {

namespace {

// Which rows of the dataset version are the reference part's (the others,
// but unassigned rows, are held out). Empty without a split: every row.
struct PartRows {
  std::vector<uint8_t> assignment;
  int part = -1;
  int64_t rows = 0;
};

absl::StatusOr<PartRows> ReadPartRows(const v1::ModelArtifact& model,
                                      ReferenceSources* sources,
                                      const std::string& wanted) {
  PartRows out;
  if (model.split_id().empty()) return out;
  auto split = sources->GetSplit(model.split_id());
  if (!split.ok()) return split.status();
  for (int i = 0; i < split->parts_size(); ++i)
    if (split->parts(i).name() == wanted) out.part = i;
  if (out.part < 0) {
    return absl::InvalidArgumentError(StrCat("part: split ", model.split_id(),
                                             " of model ", model.id(),
                                             " has no part '", wanted, "'"));
  }
  auto chunks = sources->ReadAssignments(model.split_id());
  if (!chunks.ok()) return chunks.status();
  if (auto st = ml::FlattenAssignments(*chunks, split->num_rows(),
                                       &out.assignment, nullptr);
      !st.ok())
    return absl::DataLossError(StrCat(model.split_id(), ": ", st.message()));
  out.rows = split->num_rows();
  return out;
}

// The columns the reference reads: the model's inputs and its label (when
// it is no input). `has_label` says whether the label is among them.
absl::StatusOr<std::vector<std::string>> ReferenceColumns(
    const serving::Servable& s, const v1::ModelArtifact& model,
    bool* has_label) {
  std::vector<std::string> columns;
  for (const auto& in : s.inputs()) columns.push_back(in.name);
  *has_label =
      !model.label().empty() &&
      std::find(columns.begin(), columns.end(), model.label()) == columns.end();
  if (*has_label) columns.push_back(model.label());
  for (const char* reserved : {kPredictionField, kLabelField}) {
    if (std::find(columns.begin(), columns.end(), reserved) != columns.end())
      return absl::FailedPreconditionError(
          StrCat("model ", model.id(), " reads a field named '", reserved,
                 "', the name monitoring gives its predictions"));
  }
  return columns;
}

// The model's predictions of the held-out rows of `t` into `outputs`.
absl::Status ProfilePredictions(const serving::Servable& s,
                                const v1::ModelArtifact& model,
                                const table::Table& t,
                                const std::vector<uint8_t>& held_out,
                                int64_t offset, Profiler& outputs) {
  const size_t n = t.num_rows;
  std::vector<double> x, scores;
  if (auto st = s.TableFeatures(
          t, true, StrCat(model.dataset(), " rows ", offset, "+"), &x);
      !st.ok())
    return st;
  if (auto st = s.model().Predict(ml::MatrixView(x.data(), n, s.num_features()),
                                  &scores);
      !st.ok())
    return st;
  const int width = s.width();
  for (size_t r = 0; r < n; ++r) {
    if (!held_out[r]) continue;
    const double* row = scores.data() + r * width;
    if (width == 1) outputs.AddNumber(kPredictionField, row[0]);
    std::string label = s.Label(row);
    if (!label.empty()) outputs.AddString(kLabelField, label);
    outputs.EndRow();
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::MonitorReference> BuildReference(
    const v1::ModelArtifact& model, ReferenceSources* sources,
    const std::string& part, const ProfileOptions& options,
    ops::Progress& progress) {
  auto servable = serving::Servable::Load(model);
  if (!servable.ok()) return servable.status();
  const serving::Servable& s = **servable;
  const std::string wanted = part.empty() ? "train" : part;
  auto parts = ReadPartRows(model, sources, wanted);
  if (!parts.ok()) return parts.status();
  const std::vector<uint8_t>& assignment = parts->assignment;
  bool has_label = false;
  auto columns = ReferenceColumns(s, model, &has_label);
  if (!columns.ok()) return columns.status();
  auto reader =
      sources->ReadDataset(model.dataset(), model.dataset_version(), *columns);
  if (!reader.ok()) return reader.status();

  Profiler inputs(options), outputs(options);
  v1::Frame frame;
  std::vector<uint8_t> keep, held_out;
  int64_t offset = 0;
  while (true) {
    if (progress.Cancelled()) return absl::CancelledError("cancelled");
    frame.Clear();
    auto more = (*reader)->Next(&frame);
    if (!more.ok()) return more.status();
    if (!*more) break;
    auto t = table::TableFromFrame(std::move(frame));
    if (!t.ok()) return t.status();
    const size_t n = t->num_rows;
    if (n == 0) continue;
    if (!assignment.empty() && offset + static_cast<int64_t>(n) > parts->rows) {
      return absl::FailedPreconditionError(
          StrCat("dataset ", model.dataset(), " version ",
                 model.dataset_version(), " has more rows than split ",
                 model.split_id(), " (", parts->rows, ")"));
    }
    keep.assign(n, 1);
    held_out.assign(n, 1);
    if (!assignment.empty()) {
      for (size_t r = 0; r < n; ++r) {
        const uint8_t a = assignment[offset + r];
        keep[r] = a == parts->part;
        held_out[r] = a != parts->part && a != 255;
      }
    }
    inputs.AddTable(*t, &keep);
    if (std::any_of(held_out.begin(), held_out.end(),
                    [](uint8_t h) { return h; })) {
      if (auto st = ProfilePredictions(s, model, *t, held_out, offset, outputs);
          !st.ok())
        return st;
    }
    offset += static_cast<int64_t>(n);
    progress.Update(offset, parts->rows, StrCat("profiled ", offset, " rows"));
  }
  if (!assignment.empty() && offset != parts->rows) {
    return absl::FailedPreconditionError(StrCat(
        "dataset ", model.dataset(), " version ", model.dataset_version(),
        " has ", offset, " rows, split ", model.split_id(), " ", parts->rows));
  }
  if (inputs.rows() == 0) {
    return absl::FailedPreconditionError(
        StrCat("model ", model.id(), ": no rows in part '", wanted, "'"));
  }
  // One profile: the inputs' rows count (the outputs add their fields).
  const uint64_t input_rows = inputs.rows();
  if (auto st = inputs.Merge(outputs); !st.ok()) return st;
  v1::MonitorReference ref;
  ref.set_model_version(model.id());
  ref.set_task(model.task());
  *ref.mutable_classes() = model.classes();
  ref.set_label(has_label ? model.label() : "");
  *ref.mutable_profile() = inputs.ToProto();
  ref.mutable_profile()->set_rows(input_rows);
  return ref;
}

}  // namespace mlpipe::monitor
