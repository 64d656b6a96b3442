// Model artifacts signed by the train service and verified where they are
// loaded, between processes: a pipeline trains and deploys a signed model;
// then someone with write access to the train service's store changes the
// model and recomputes its SHA-256. The hash checks out; the signature does
// not, and scoring refuses to load it.
#include "common/ml/artifact.h"
#include "common/storage/store.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/train/model_store.h"
#include "services/train/trainer.h"
#include "tests/integration/harness.h"

namespace mlpipe::testing {
namespace {

using ::testing::HasSubstr;

TEST(SignedArtifactTest, ARehashedArtifactIsRefusedAtDeploy) {
  TempDir dir;
  auto keys = RunCommand(
      {"/bin/sh", "-c",
       "cd '" + dir.path() +
           "' && openssl genpkey -algorithm ed25519 -out sign.pem && "
           "openssl pkey -in sign.pem -pubout -out verify.pem && "
           "openssl genpkey -algorithm ed25519 -out other.pem && "
           "openssl pkey -in other.pem -pubout -out other.pub"});
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  const std::vector<std::string> flags = {
      "--artifact_signing_key=" + dir.path() + "/sign.pem",
      "--artifact_verify_keys=" + dir.path() + "/other.pub," + dir.path() +
          "/verify.pem"};
  auto server = std::make_unique<Standalone>(dir.path() + "/data", flags);
  auto run = server->Cli(
      {"run", SourcePath("examples/credit/pipeline.yaml"), "--watch"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  ASSERT_EQ(server->Stop(), 0);

  // The attack, on the train service's store while it is down: the newest
  // version changed.
  std::string version;
  {
    auto store = storage::OpenRocksStore(dir.path() + "/data/train",
                                         train::Trainer::StorageOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    std::string key;
    v1::ModelArtifact a;
    for (auto it = (*store)->Scan(train::kModelsColumnFamily, "a/credit/");
         it->Valid(); it->Next()) {
      key = std::string(it->key());
      ASSERT_TRUE(a.ParseFromArray(it->value().data(),
                                   static_cast<int>(it->value().size())));
    }
    ASSERT_FALSE(key.empty());
    ASSERT_THAT(a.signature(), ::testing::StartsWith("ed25519:"));
    a.mutable_params()->mutable_fields()->operator[]("note").set_string_value(
        "changed");
    a.set_sha256(ml::ArtifactHash(a));
    version = a.id();
    ASSERT_TRUE(ml::CheckArtifactHash(a).ok());
    ASSERT_TRUE(
        (*store)
            ->Put(train::kModelsColumnFamily, key, a.SerializeAsString())
            .ok());
  }
  server = std::make_unique<Standalone>(dir.path() + "/data", flags);
  auto deployed = server->Cli({"deploy", version, "--alias", "staging"});
  EXPECT_EQ(deployed.exit_code, 7) << deployed.out << deployed.err;
  EXPECT_THAT(deployed.err,
              HasSubstr(version + ": the signature does not verify"));
  EXPECT_THAT(
      HttpGet(server->metrics_port(), "/metrics"),
      HasSubstr("mlpipe_artifact_rejected_total{reason=\"bad_signature\"}"));
  // A server that checks no signatures (no verification keys) takes it:
  // the hash alone cannot tell.
  ASSERT_EQ(server->Stop(), 0);
  Standalone lax(dir.path() + "/data");
  auto taken = lax.Cli({"deploy", version, "--alias", "staging"});
  EXPECT_EQ(taken.exit_code, 0) << taken.out << taken.err;
}

}  // namespace
}  // namespace mlpipe::testing
