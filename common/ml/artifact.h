// A model artifact's integrity and origin (DESIGN.md §3): the SHA-256 of its
// content, written when train stores it and checked wherever it is loaded;
// and an Ed25519 signature of that hash by the train service's key, checked
// by the services that load models (score, evaluate, monitor) when they are
// given verification keys. The hash alone proves integrity, not origin:
// whoever can write the bytes can recompute it.
#ifndef MLPIPE_COMMON_ML_ARTIFACT_H_
#define MLPIPE_COMMON_ML_ARTIFACT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "mlpipe/v1/model.pb.h"

namespace mlpipe::ml {

// The hex SHA-256 of `artifact` with its sha256 and signature fields empty
// (deterministic serialization).
std::string ArtifactHash(const v1::ModelArtifact& artifact);

// DATA_LOSS naming the model when its content does not match its sha256.
absl::Status CheckArtifactHash(const v1::ModelArtifact& artifact);

// The process's keys, as PEM: an Ed25519 private key to sign with (empty:
// artifacts are not signed) and the public keys whose signatures are
// accepted (empty: signatures are not checked; the signing key's own public
// key is always accepted when there is one). Several verification keys
// rotate: sign with the new key once every verifier accepts it.
// INVALID_ARGUMENT naming what is not an Ed25519 key. Call once, at start.
absl::Status SetArtifactKeys(const std::string& signing_key_pem,
                             const std::vector<std::string>& verify_keys_pem);

// Signs `artifact` (its sha256 already set) with the signing key; a no-op
// without one.
absl::Status SignArtifact(v1::ModelArtifact* artifact);

// CheckArtifactHash, then, when the process has verification keys, the
// signature: PERMISSION_DENIED naming the model when it is unsigned or no
// accepted key signed it. Counted in mlpipe_artifact_rejected_total{reason}.
absl::Status CheckArtifact(const v1::ModelArtifact& artifact);
// CheckArtifact, and, when `requested` names a version ("credit:3"), that
// the artifact is that version: a validly signed other version is refused
// too (PERMISSION_DENIED, reason substituted).
absl::Status CheckArtifactFor(const v1::ModelArtifact& artifact,
                              std::string_view requested);

}  // namespace mlpipe::ml

#endif  // MLPIPE_COMMON_ML_ARTIFACT_H_
