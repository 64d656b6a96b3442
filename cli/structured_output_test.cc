#include "cli/structured_output.h"

#include <cmath>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/evaluate_service.pb.h"
#include "mlpipe/v1/ingest_service.pb.h"
#include "mlpipe/v1/monitor.pb.h"
#include "yaml-cpp/yaml.h"

namespace mlpipe::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(StructuredOutputTest, EveryFieldIsPresentZerosToo) {
  v1::Alert a;  // Nothing set.
  const std::string json = ToJson(a);
  for (const char* field :
       {"\"id\": 0", "\"time\": null", "\"kind\": \"\"", "\"fields\": []",
        "\"value\": 0", "\"threshold\": 0", "\"window_seq\": 0"}) {
    EXPECT_THAT(json, HasSubstr(field)) << json;
  }
  // In the order the .proto declares them.
  EXPECT_LT(json.find("\"id\""), json.find("\"time\""));
  EXPECT_LT(json.find("\"time\""), json.find("\"action\""));
}

TEST(StructuredOutputTest, NumbersAreNumbersAndTimesAreRfc3339) {
  v1::Alert a;
  a.set_id(uint64_t{9007199254740993});  // Past 2^53: printed exactly.
  a.set_time_micros(1796304570909210);
  a.set_value(0.1);
  a.set_threshold(NAN);
  a.add_fields("Income");
  const std::string json = ToJson(a);
  EXPECT_THAT(json, HasSubstr("\"id\": 9007199254740993"));
  EXPECT_THAT(json, HasSubstr("\"time\": \"2026-12-03T13:29:30.90921Z\""));
  EXPECT_THAT(json, HasSubstr("\"value\": 0.1,"));
  EXPECT_THAT(json, HasSubstr("\"threshold\": \"NaN\""));
  EXPECT_THAT(json, HasSubstr("\"fields\": [\n    \"Income\"\n  ]"));
  EXPECT_THAT(json, Not(HasSubstr("micros")));
}

TEST(StructuredOutputTest, EnumsByNameMapsSortedOneofsOnlyWhenSet) {
  v1::IngestRequest r;
  auto* h = r.mutable_header();
  (*h->mutable_types())["zeta"] = v1::TEXT;
  (*h->mutable_types())["alpha"] = v1::CATEGORICAL;
  const std::string json = ToJson(r);
  EXPECT_THAT(json, HasSubstr("\"mode\": \"INGEST_MODE_UNSPECIFIED\""));
  EXPECT_LT(json.find("\"alpha\": \"CATEGORICAL\""),
            json.find("\"zeta\": \"TEXT\""));
  // The oneof's member that is set, not the other.
  EXPECT_THAT(json, HasSubstr("\"header\": {"));
  EXPECT_THAT(json, Not(HasSubstr("\"chunk\"")));
}

TEST(StructuredOutputTest, OptionalAndMessageFieldsAreNullWhenUnset) {
  v1::EvaluateRequest r;
  std::string json = ToJson(r);
  EXPECT_THAT(json, HasSubstr("\"threshold\": null"));
  EXPECT_THAT(json, HasSubstr("\"gate\": null"));
  r.set_threshold(0);  // Set to zero: not the same as unset.
  json = ToJson(r);
  EXPECT_THAT(json, HasSubstr("\"threshold\": 0,"));
}

TEST(StructuredOutputTest, StructsPrintAsTheJsonTheyHold) {
  google::protobuf::Struct s;
  auto& f = *s.mutable_fields();
  f["b"].set_number_value(2.5);
  f["a"].set_string_value("x");
  f["c"].mutable_list_value()->add_values()->set_bool_value(true);
  f["d"].set_null_value(google::protobuf::NULL_VALUE);
  EXPECT_EQ(ToJson(s),
            "{\n  \"a\": \"x\",\n  \"b\": 2.5,\n  \"c\": [\n    true\n  ],\n"
            "  \"d\": null\n}");
}

TEST(StructuredOutputTest, JsonParsesBackIntoTheMessage) {
  // What the API's own JSON reader takes: scripts may hand it back.
  v1::Alert a;
  a.set_id(3);
  a.set_kind("drift");
  a.set_value(-1.25e-7);
  v1::IngestRequest r;
  (*r.mutable_header()->mutable_types())["x"] = v1::NUMERIC;
  v1::IngestRequest back;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(ToJson(r), &back).ok());
  EXPECT_EQ(back.header().types().at("x"), v1::NUMERIC);
  google::protobuf::util::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // "time" (from time_micros).
  v1::Alert alert;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(ToJson(a), &alert, o).ok());
  EXPECT_EQ(alert.id(), 3u);
  EXPECT_EQ(alert.value(), -1.25e-7);
}

TEST(StructuredOutputTest, YamlKeepsTypesAndQuotesWhatWouldReadOtherwise) {
  v1::Alert a;
  a.set_id(12);
  a.set_kind("drift");
  a.set_model_version("true");  // Would read as a boolean.
  a.add_fields("0123");         // Would read as a number.
  a.add_fields("a: b");         // Would read as a map.
  a.set_message("");
  YAML::Node y = YAML::Load(ToYaml(a));
  EXPECT_EQ(y["id"].as<int>(), 12);
  EXPECT_TRUE(y["time"].IsNull());
  EXPECT_EQ(y["kind"].as<std::string>(), "drift");
  EXPECT_EQ(y["model_version"].Tag(), "!");  // Quoted: a string.
  EXPECT_EQ(y["model_version"].as<std::string>(), "true");
  EXPECT_EQ(y["fields"][0].as<std::string>(), "0123");
  EXPECT_EQ(y["fields"][0].Tag(), "!");
  EXPECT_EQ(y["fields"][1].as<std::string>(), "a: b");
  EXPECT_EQ(y["message"].as<std::string>(), "");
  EXPECT_TRUE(y["fields"].IsSequence());
}

TEST(StructuredOutputTest, YamlKeysAndExponentsReadBackAsWritten) {
  google::protobuf::Struct s;
  auto& f = *s.mutable_fields();
  f["yes"].set_number_value(1e-7);  // A key YAML 1.1 reads as true.
  f["007"].set_string_value("x");   // A key that reads as a number.
  const std::string yaml = ToYaml(s);
  EXPECT_THAT(yaml, HasSubstr("\"yes\": 1.0e-07"));
  YAML::Node y = YAML::Load(yaml);
  EXPECT_DOUBLE_EQ(y["yes"].as<double>(), 1e-7);
  EXPECT_EQ(y["007"].as<std::string>(), "x");
}

}  // namespace
}  // namespace mlpipe::cli
