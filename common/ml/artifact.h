// A model artifact's integrity (DESIGN.md §3): the SHA-256 of its content,
// written when train stores it and checked wherever it is loaded.
#ifndef MLPIPE_COMMON_ML_ARTIFACT_H_
#define MLPIPE_COMMON_ML_ARTIFACT_H_

#include <string>

#include "absl/status/status.h"
#include "mlpipe/v1/model.pb.h"

namespace mlpipe::ml {

// The hex SHA-256 of `artifact` with its sha256 field empty (deterministic
// serialization).
std::string ArtifactHash(const v1::ModelArtifact& artifact);

// DATA_LOSS naming the model when its content does not match its sha256.
absl::Status CheckArtifactHash(const v1::ModelArtifact& artifact);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_ARTIFACT_H_
