#include "common/ml/artifact.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "common/metrics/metrics.h"
#include "common/util/proto_bytes.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"

namespace mlpipe::ml {
namespace {

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

struct Keys {
  PKey signing{nullptr, &EVP_PKEY_free};
  std::string signing_id;
  std::vector<std::pair<std::string, PKey>> verify;  // Key id -> key.
};

std::mutex keys_mu;
std::shared_ptr<const Keys>* keys = nullptr;  // GUARDED_BY(keys_mu)

std::shared_ptr<const Keys> CurrentKeys() {
  std::lock_guard lock(keys_mu);
  return keys != nullptr ? *keys : nullptr;
}

// The first 16 hex digits of the SHA-256 of the raw public key.
std::string KeyId(EVP_PKEY* key) {
  unsigned char raw[64];
  size_t n = sizeof(raw);
  EVP_PKEY_get_raw_public_key(key, raw, &n);
  Sha256 h;
  h.Update(std::string_view(reinterpret_cast<char*>(raw), n));
  return h.HexDigest().substr(7, 16);
}

absl::StatusOr<PKey> ReadKey(const std::string& pem, bool private_key,
                             const char* what) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  PKey key(private_key
               ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr)
               : PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr),
           &EVP_PKEY_free);
  if (key == nullptr || EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        StrCat(what, ": not an Ed25519 ", private_key ? "private" : "public",
               " key in PEM (openssl genpkey -algorithm ed25519 -out key.pem; "
               "openssl pkey -in key.pem -pubout -out key.pub)"));
  }
  return key;
}

void CountRejected(const char* reason) {
  static auto& family = prometheus::BuildCounter()
                            .Name("mlpipe_artifact_rejected_total")
                            .Help(
                                "Model artifacts refused at load, by reason "
                                "(hash, unsigned, malformed, bad_signature, "
                                "unknown_key).")
                            .Register(metrics::Registry());
  family.Add({{"reason", reason}}).Increment();
}

absl::Status Rejected(const v1::ModelArtifact& a, const char* reason,
                      const std::string& why) {
  CountRejected(reason);
  return absl::PermissionDeniedError(StrCat("model ", a.id(), ": ", why));
}

}  // namespace

std::string ArtifactHash(const v1::ModelArtifact& artifact) {
  v1::ModelArtifact copy = artifact;
  copy.clear_sha256();
  copy.clear_signature();
  Sha256 h;
  h.Update(DeterministicBytes(copy));
  return h.HexDigest();
}

absl::Status CheckArtifactHash(const v1::ModelArtifact& artifact) {
  std::string want = ArtifactHash(artifact);
  if (want != artifact.sha256()) {
    CountRejected("hash");
    return absl::DataLossError(
        StrCat("model ", artifact.id(), ": content hash ", want,
               " does not match the stored ", artifact.sha256()));
  }
  return absl::OkStatus();
}

absl::Status SetArtifactKeys(const std::string& signing_key_pem,
                             const std::vector<std::string>& verify_keys_pem) {
  auto k = std::make_shared<Keys>();
  if (!signing_key_pem.empty()) {
    auto key = ReadKey(signing_key_pem, true, "artifact signing key");
    if (!key.ok()) return key.status();
    k->signing = std::move(*key);
    k->signing_id = KeyId(k->signing.get());
  }
  for (size_t i = 0; i < verify_keys_pem.size(); ++i) {
    auto key = ReadKey(verify_keys_pem[i], false,
                       StrCat("artifact verification key ", i + 1).c_str());
    if (!key.ok()) return key.status();
    std::string id = KeyId(key->get());
    k->verify.emplace_back(std::move(id), std::move(*key));
  }
  if (!k->verify.empty() && k->signing != nullptr) {
    // What this process signs it accepts.
    EVP_PKEY_up_ref(k->signing.get());
    k->verify.emplace_back(k->signing_id,
                           PKey(k->signing.get(), &EVP_PKEY_free));
  }
  std::lock_guard lock(keys_mu);
  if (keys == nullptr) keys = new std::shared_ptr<const Keys>;
  *keys = std::move(k);
  return absl::OkStatus();
}

absl::Status SignArtifact(v1::ModelArtifact* artifact) {
  auto k = CurrentKeys();
  if (k == nullptr || k->signing == nullptr) return absl::OkStatus();
  const std::string& digest = artifact->sha256();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                              &EVP_MD_CTX_free);
  unsigned char sig[64];
  size_t n = sizeof(sig);
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr,
                         k->signing.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &n,
                     reinterpret_cast<const unsigned char*>(digest.data()),
                     digest.size()) != 1) {
    return absl::InternalError(
        StrCat("model ", artifact->id(), ": signing failed"));
  }
  artifact->set_signature(StrCat("ed25519:", k->signing_id, ":",
                                 absl::BytesToHexString(absl::string_view(
                                     reinterpret_cast<char*>(sig), n))));
  return absl::OkStatus();
}

absl::Status CheckArtifact(const v1::ModelArtifact& artifact) {
  if (auto s = CheckArtifactHash(artifact); !s.ok()) return s;
  auto k = CurrentKeys();
  if (k == nullptr || k->verify.empty()) return absl::OkStatus();
  const std::string& sig = artifact.signature();
  if (sig.empty())
    return Rejected(artifact, "unsigned",
                    "the artifact is not signed, and this service loads only "
                    "signed models (--artifact_verify_keys)");
  std::vector<std::string> parts = absl::StrSplit(sig, ':');
  if (parts.size() != 3 || parts[0] != "ed25519" || parts[2].size() != 128 ||
      !std::all_of(parts[2].begin(), parts[2].end(),
                   [](char c) { return absl::ascii_isxdigit(c); }))
    return Rejected(artifact, "malformed", "the signature is malformed");
  const std::string raw = absl::HexStringToBytes(parts[2]);
  for (const auto& [id, key] : k->verify) {
    if (id != parts[1]) continue;
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(
        EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    const std::string& digest = artifact.sha256();
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) ==
            1 &&
        EVP_DigestVerify(
            ctx.get(), reinterpret_cast<const unsigned char*>(raw.data()),
            raw.size(), reinterpret_cast<const unsigned char*>(digest.data()),
            digest.size()) == 1)
      return absl::OkStatus();
    return Rejected(artifact, "bad_signature",
                    StrCat("the signature does not verify with key ", id,
                           " (the artifact was changed after it was signed)"));
  }
  return Rejected(
      artifact, "unknown_key",
      StrCat("signed by key ", parts[1],
             ", which is not among the accepted verification keys"));
}

absl::Status CheckArtifactFor(const v1::ModelArtifact& artifact,
                              std::string_view requested) {
  if (auto s = CheckArtifact(artifact); !s.ok()) return s;
  if (requested.find(':') != std::string_view::npos &&
      artifact.id() != requested)
    return Rejected(
        artifact, "substituted",
        StrCat("asked for ", requested, ", the artifact is ", artifact.id()));
  return absl::OkStatus();
}

}  // namespace mlpipe::ml
