#include "common/ml/artifact.h"

#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"

namespace mlpipe::ml {

std::string ArtifactHash(const v1::ModelArtifact& artifact) {
  v1::ModelArtifact copy = artifact;
  copy.clear_sha256();
  Sha256 h;
  h.Update(DeterministicBytes(copy));
  return h.HexDigest();
}

absl::Status CheckArtifactHash(const v1::ModelArtifact& artifact) {
  std::string want = ArtifactHash(artifact);
  if (want != artifact.sha256()) {
    return absl::DataLossError(
        StrCat("model ", artifact.id(), ": content hash ", want,
               " does not match the stored ", artifact.sha256()));
  }
  return absl::OkStatus();
}

}  // namespace mlpipe::ml
