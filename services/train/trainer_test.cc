// The training domain without gRPC: search spaces and the model store.
#include "services/train/trainer.h"

#include "clients/train_request.h"
#include "common/ml/artifact.h"
#include "common/storage/store.h"
#include "common/util/testing.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/train/model_store.h"

namespace mlpipe::train {
namespace {

using ::testing::HasSubstr;

v1::Candidate CandidateOf(const std::string& json) {
  v1::Candidate c;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &c).ok())
      << json;
  return c;
}

TEST(SearchTest, GridIsTheCartesianProductInKeyOrder) {
  auto trials = ExpandTrials(CandidateOf(R"({"name": "g", "algorithm": "gbdt",
                      "params": {"max_depth": [3, 4], "eta": [0.1, 0.3], "rounds": 10}})"),
                             {}, 0);
  ASSERT_TRUE(trials.ok()) << trials.status();
  ASSERT_EQ(trials->size(), 4u);
  // eta varies slowest (keys in name order, the last fastest).
  EXPECT_EQ((*trials)[0].fields().at("eta").number_value(), 0.1);
  EXPECT_EQ((*trials)[0].fields().at("max_depth").number_value(), 3);
  EXPECT_EQ((*trials)[1].fields().at("max_depth").number_value(), 4);
  EXPECT_EQ((*trials)[2].fields().at("eta").number_value(), 0.3);
  for (const auto& t : *trials)
    EXPECT_EQ(t.fields().at("rounds").number_value(), 10);
}

TEST(SearchTest, RandomDrawsAreSeededAndWithinTheirRanges) {
  auto c = CandidateOf(R"({"name": "r", "algorithm": "logistic_regression",
      "params": {"C": {"min": 0.001, "max": 10, "log": true}, "penalty": ["l1", "l2"]}})");
  v1::SearchSpec search;
  search.set_type("random");
  search.set_trials(20);
  search.set_seed(3);
  auto a = ExpandTrials(c, search, 0), b = ExpandTrials(c, search, 0);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 20u);
  std::set<std::string> penalties;
  for (size_t i = 0; i < a->size(); ++i) {
    double v = (*a)[i].fields().at("C").number_value();
    EXPECT_GE(v, 0.001);
    EXPECT_LE(v, 10);
    EXPECT_EQ(
        v, (*b)[i].fields().at("C").number_value());  // Same seed, same draws.
    penalties.insert((*a)[i].fields().at("penalty").string_value());
  }
  EXPECT_EQ(penalties.size(), 2u);
}

TEST(SearchTest, MalformedSpacesNameTheField) {
  auto too_big =
      ExpandTrials(CandidateOf(R"({"name": "g", "algorithm": "gbdt", "params": {
          "a": [1,2,3,4,5,6,7,8,9,10], "b": [1,2,3,4,5,6,7,8,9,10],
          "c": [1,2,3,4,5,6,7,8,9,10], "d": [1, 2]}})"),
                   {}, 2);
  EXPECT_THAT(
      too_big.status().ToString(),
      HasSubstr("candidates[2].params: the grid has more than 1000 settings"));
  auto empty = ExpandTrials(
      CandidateOf(
          R"({"name": "g", "algorithm": "gbdt", "params": {"eta": []}})"),
      {}, 0);
  EXPECT_THAT(empty.status().ToString(),
              HasSubstr("candidates[0].params.eta: an empty list"));
  v1::SearchSpec random;
  random.set_type("random");
  auto log0 = ExpandTrials(CandidateOf(R"({"name": "g", "algorithm": "gbdt",
      "params": {"eta": {"min": 0, "max": 1, "log": true}}})"),
                           random, 0);
  EXPECT_THAT(log0.status().ToString(), HasSubstr("a log range needs min > 0"));
}

v1::ModelArtifact Artifact(const std::string& name) {
  v1::ModelArtifact a;
  a.set_name(name);
  a.set_algorithm("logistic_regression");
  a.set_task(v1::BINARY);
  a.add_feature_names("x");
  a.mutable_learned()->mutable_linear()->set_outputs(1);
  a.mutable_learned()->mutable_linear()->add_weights(0.5);
  a.mutable_learned()->mutable_linear()->add_intercepts(-1);
  return a;
}

TEST(ModelStoreTest, VersionsPerNameAndHashesCheckedOnEveryLoad) {
  testing::TempDir dir;
  auto store = storage::OpenRocksStore(dir.path(), Trainer::StorageOptions());
  ASSERT_TRUE(store.ok()) << store.status();
  ModelStore models(store->get());
  auto a1 = models.Add(Artifact("a"));
  auto a2 = models.Add(Artifact("a"));
  auto b1 = models.Add(Artifact("b"));
  ASSERT_TRUE(a1.ok() && a2.ok() && b1.ok());
  EXPECT_EQ(a1->id(), "a:1");
  EXPECT_EQ(a2->id(), "a:2");
  EXPECT_EQ(b1->id(), "b:1");
  EXPECT_EQ(a1->sha256(), ml::ArtifactHash(*a1));
  auto latest = models.Get("a");
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->version(), 2);
  auto list = models.List("", 0);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].id(), "a:2");
  EXPECT_FALSE((*list)[0].has_learned());  // Summaries.

  // Bytes changed behind the store's back (a flipped weight): DATA_LOSS.
  v1::ModelArtifact tampered = *a1;
  tampered.mutable_learned()->mutable_linear()->set_weights(0, 5.0);
  ASSERT_TRUE((*store)
                  ->Put(kModelsColumnFamily, "a/a/000000000001",
                        tampered.SerializeAsString())
                  .ok());
  auto bad = models.Get("a:1");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(bad.status().ToString(), HasSubstr("does not match the stored"));
  EXPECT_EQ(models.Get("a:2").status().code(), absl::StatusCode::kOk);
  EXPECT_EQ(models.Add(Artifact("x/y")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(models.Get("zz").status().code(), absl::StatusCode::kNotFound);
  // Ids are parsed strictly: junk after the name is not version 2.
  for (const char* junk : {"a:2/../1", "a:+2", "a: 2", "a:02", "a:2x",
                           "a:", "a:99999999999999999999", "../a:2"}) {
    EXPECT_EQ(models.Get(junk).status().code(),
              absl::StatusCode::kInvalidArgument)
        << junk;
  }
}

}  // namespace
}  // namespace mlpipe::train
