// Predict's row decoding (RowsFromRequest, services/score): a serialized
// mlpipe.v1.PredictRequest, its rows then checked and turned into features
// by a real model's transform (the credit logistic regression of the
// artifact corpus), scored and written as predictions, as Predictor does.
#include "common/serving/servable.h"
#include "services/score/scoring_service.h"
#include "tests/reliability/fuzz/fuzz_target.h"

using mlpipe::fuzz::Check;
namespace serving = mlpipe::serving;

namespace {

const serving::Servable& Model() {
  static const auto* servable = [] {
    mlpipe::v1::ModelArtifact artifact;
    Check(artifact.ParseFromString(
              mlpipe::fuzz::CorpusFile("artifact/credit-logreg")),
          "the model does not parse");
    auto s = serving::Servable::Load(artifact);
    Check(s.ok(), s.status().ToString());
    return new std::shared_ptr<serving::Servable>(*s);
  }();
  return **servable;
}

// Predictor's limits (--score_max_rows, --max_field_bytes): requests over
// them never reach the model.
bool WithinLimits(const std::vector<serving::RawRow>& rows) {
  if (rows.empty() || rows.size() > 10000) return false;
  for (const auto& row : rows) {
    for (const auto& [name, v] : row) {
      const auto* text = std::get_if<std::string>(&v);
      if (text != nullptr && text->size() > 65536) return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mlpipe::v1::PredictRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  std::vector<serving::RawRow> rows;
  if (!mlpipe::score::RowsFromRequest(request, &rows).ok()) return 0;
  if (!WithinLimits(rows)) return 0;
  const serving::Servable& model = Model();
  std::vector<double> x, scores;
  if (!model.Features(rows, request.ignore_extra_fields(), &x).ok()) return 0;
  Check(x.size() == rows.size() * model.num_features(), "features' size");
  auto s = model.model().Predict(
      mlpipe::ml::MatrixView(x.data(), rows.size(), model.num_features()),
      &scores);
  Check(s.ok(), "the model failed on checked features: " + s.ToString());
  Check(scores.size() == rows.size() * model.width(), "scores' size");
  for (size_t r = 0; r < rows.size(); ++r) {
    mlpipe::v1::Prediction p;
    model.Fill(scores.data() + r * model.width(), &p);
  }
  return 0;
}
