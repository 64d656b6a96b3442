// Model artifacts (serving::Servable::Load, as scoring and the monitor load
// a v1::ModelArtifact): the bytes as stored, which must fail the SHA-256
// check when changed; then the same artifact with its hash made to match, so
// the model loaders and the transform see the change, and a loaded model
// scores a row with and without values (XGBoost models too: their bytes and
// trees are checked before XGBoost's loader sees them, ml::LoadTrees).
#include "common/ml/artifact.h"
#include "common/serving/servable.h"
#include "tests/reliability/fuzz/fuzz_target.h"

using mlpipe::fuzz::Check;
namespace serving = mlpipe::serving;

namespace {

// A row with a value for every field the model reads, and one without.
std::vector<serving::RawRow> Rows(const serving::Servable& s) {
  serving::RawRow full, empty;
  for (const auto& in : s.inputs()) {
    full[in.name] = in.is_string ? mlpipe::features::RawValue("rent")
                                 : mlpipe::features::RawValue(1.5);
    empty[in.name] = std::monostate();
  }
  return {full, empty};
}

void Score(const serving::Servable& s) {
  std::vector<serving::RawRow> rows = Rows(s);
  std::vector<double> x, scores;
  if (!s.Features(rows, false, &x).ok()) {
    rows.resize(1);  // The model may take no missing value.
    if (!s.Features(rows, false, &x).ok()) return;
  }
  auto status = s.model().Predict(
      mlpipe::ml::MatrixView(x.data(), rows.size(), s.num_features()), &scores);
  if (!status.ok()) return;
  Check(scores.size() == rows.size() * s.width(), "scores' size");
  mlpipe::v1::Prediction p;
  s.Fill(scores.data(), &p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mlpipe::v1::ModelArtifact artifact;
  if (!artifact.ParseFromArray(data, static_cast<int>(size))) return 0;
  auto as_stored = serving::Servable::Load(artifact);
  if (as_stored.ok()) {
    Check(mlpipe::ml::CheckArtifactHash(artifact).ok(),
          "loaded an artifact whose hash does not match");
  }
  artifact.set_sha256(mlpipe::ml::ArtifactHash(artifact));
  auto loaded = serving::Servable::Load(artifact);
  if (loaded.ok()) Score(**loaded);
  return 0;
}
