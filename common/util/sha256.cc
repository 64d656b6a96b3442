#include "common/util/sha256.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace mlpipe {

struct Sha256::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  // Fetched from the provider once: EVP_sha256() in an Init fetched it at
  // every digest (most of the cost of hashing a short string, e.g. a bearer
  // token or a step's cache key).
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (state_->ctx == nullptr || md == nullptr ||
      EVP_DigestInit_ex2(state_->ctx, md, nullptr) != 1) {
    throw std::runtime_error("SHA-256 unavailable");
  }
}

Sha256::~Sha256() = default;

void Sha256::Update(std::string_view data) {
  EVP_DigestUpdate(state_->ctx, data.data(), data.size());
}

std::string Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, digest, &len);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

}  // namespace mlpipe
