#include "common/ml/artifact.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::ml {
namespace {

using ::testing::HasSubstr;

struct KeyPair {
  std::string private_pem, public_pem;
};

KeyPair NewKey() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  auto pem = [&](bool priv) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (priv) {
      PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_bio_PUBKEY(bio, key);
    }
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, n);
    BIO_free(bio);
    return out;
  };
  KeyPair k{pem(true), pem(false)};
  EVP_PKEY_free(key);
  return k;
}

v1::ModelArtifact Artifact() {
  v1::ModelArtifact a;
  a.set_name("credit");
  a.set_id("credit:1");
  a.set_algorithm("gbdt");
  a.add_feature_names("income");
  a.set_sha256(ArtifactHash(a));
  return a;
}

class ArtifactTest : public ::testing::Test {
 protected:
  void TearDown() override { ASSERT_TRUE(SetArtifactKeys("", {}).ok()); }
};

TEST_F(ArtifactTest, WithoutKeysOnlyTheHashIsChecked) {
  ASSERT_TRUE(SetArtifactKeys("", {}).ok());
  auto a = Artifact();
  ASSERT_TRUE(SignArtifact(&a).ok());
  EXPECT_TRUE(a.signature().empty());
  EXPECT_TRUE(CheckArtifact(a).ok());
  a.set_algorithm("linear");
  EXPECT_TRUE(absl::IsDataLoss(CheckArtifact(a)));
}

TEST_F(ArtifactTest, SignedByTheTrainKeyLoadsRehashedOrForeignDoesNot) {
  const KeyPair train = NewKey(), other = NewKey();
  // The train service: signs; the loaders: verify with its public key.
  ASSERT_TRUE(SetArtifactKeys(train.private_pem, {}).ok());
  auto a = Artifact();
  ASSERT_TRUE(SignArtifact(&a).ok());
  EXPECT_THAT(a.signature(), ::testing::StartsWith("ed25519:"));
  ASSERT_TRUE(SetArtifactKeys("", {train.public_pem}).ok());
  EXPECT_TRUE(CheckArtifact(a).ok()) << CheckArtifact(a);
  // The attack: change the model, recompute its hash.
  auto tampered = a;
  tampered.add_feature_names("debt");
  tampered.set_sha256(ArtifactHash(tampered));
  EXPECT_TRUE(CheckArtifactHash(tampered).ok());
  auto s = CheckArtifact(tampered);
  EXPECT_TRUE(absl::IsPermissionDenied(s)) << s;
  EXPECT_THAT(s.message(),
              HasSubstr("credit:1: the signature does not verify"));
  // Unsigned; signed by a key not accepted; a garbled signature.
  auto unsigned_a = a;
  unsigned_a.clear_signature();
  s = CheckArtifact(unsigned_a);
  EXPECT_TRUE(absl::IsPermissionDenied(s));
  EXPECT_THAT(s.message(), HasSubstr("not signed"));
  ASSERT_TRUE(SetArtifactKeys(other.private_pem, {}).ok());
  auto foreign = Artifact();
  ASSERT_TRUE(SignArtifact(&foreign).ok());
  ASSERT_TRUE(SetArtifactKeys("", {train.public_pem}).ok());
  s = CheckArtifact(foreign);
  EXPECT_TRUE(absl::IsPermissionDenied(s));
  EXPECT_THAT(s.message(), HasSubstr("not among the accepted"));
  auto garbled = a;
  garbled.set_signature("ed25519:abc:zz");
  EXPECT_THAT(CheckArtifact(garbled).message(), HasSubstr("malformed"));
  // Another version, validly signed, is not the one asked for.
  EXPECT_TRUE(CheckArtifactFor(a, "credit:1").ok());
  EXPECT_TRUE(CheckArtifactFor(a, "credit").ok());  // The latest: any.
  auto substituted = CheckArtifactFor(a, "credit:5");
  EXPECT_TRUE(absl::IsPermissionDenied(substituted)) << substituted;
  EXPECT_THAT(substituted.message(), HasSubstr("asked for credit:5"));
  // Rotation: both keys accepted while the new one takes over.
  ASSERT_TRUE(SetArtifactKeys("", {train.public_pem, other.public_pem}).ok());
  EXPECT_TRUE(CheckArtifact(a).ok());
  EXPECT_TRUE(CheckArtifact(foreign).ok());
}

TEST_F(ArtifactTest, KeysThatAreNotEd25519AreRefused) {
  auto s = SetArtifactKeys("not a key", {});
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("not an Ed25519 private key"));
  s = SetArtifactKeys("", {NewKey().private_pem});
  EXPECT_THAT(s.message(),
              HasSubstr("verification key 1: not an Ed25519 public"));
}

}  // namespace
}  // namespace mlpipe::ml
