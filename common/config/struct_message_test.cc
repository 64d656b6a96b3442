// A step's parameters as a request proto: what is accepted, and what each
// refusal names.
#include "common/config/struct_message.h"

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "mlpipe/v1/ingest_service.pb.h"
#include "mlpipe/v1/split.pb.h"

namespace mlpipe::config {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using K = Value::KindCase;
using ::testing::HasSubstr;
using ::testing::Not;

Struct Params(const std::string& json) {
  Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok())
      << json;
  return s;
}

// The split step's mapping, as the orchestrator declares it.
const ParamMapping& Split() {
  static const auto* m = new ParamMapping{
      .own = {{"features", K::kStringValue}, {"fail_on", K::kListValue}},
      .hidden = {"feature_set", "version"},
      .renames = {{"ratios", "parts"}},
      .reshape = {{"ratios", [](const Value& ratios) -> absl::StatusOr<Value> {
                     Value parts;
                     for (const auto& [name, r] :
                          ratios.struct_value().fields()) {
                       if (r.kind_case() != K::kNumberValue)
                         return absl::InvalidArgumentError(
                             "." + name + ": expected a number");
                       auto& p = *parts.mutable_list_value()
                                      ->add_values()
                                      ->mutable_struct_value()
                                      ->mutable_fields();
                       p["name"].set_string_value(name);
                       p["ratio"] = r;
                     }
                     return parts;
                   }}}};
  return *m;
}

absl::Status ToSplit(const std::string& json, v1::SplitSpec* out) {
  return ParamsToMessage(Params(json), Split(), "steps.s", out);
}

TEST(ParamsToMessageTest, FieldsRenamesAndReshapedValuesFillTheRequest) {
  v1::SplitSpec spec;
  ASSERT_TRUE(ToSplit(R"({"strategy": "random", "seed": 7,
                          "ratios": {"train": 0.8, "test": 0.2},
                          "features": "prep", "fail_on": ["uneven"]})",
                      &spec)
                  .ok());
  EXPECT_EQ(spec.strategy(), "random");
  EXPECT_EQ(spec.seed(), 7u);
  ASSERT_EQ(spec.parts_size(), 2);
  EXPECT_EQ(spec.feature_set(), "");  // An own key is not the request's.
}

TEST(ParamsToMessageTest, AnUnknownKeyListsTheKnownOnesUnderTheirYamlNames) {
  v1::SplitSpec spec;
  auto s = ToSplit(R"({"stratgy": "random"})", &spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const std::string m(s.message());
  EXPECT_THAT(m, HasSubstr("steps.s.stratgy: unknown key (known: "));
  EXPECT_THAT(m, HasSubstr("ratios"));
  EXPECT_THAT(m, HasSubstr("fail_on"));
  EXPECT_THAT(m, Not(HasSubstr("feature_set")));
  EXPECT_THAT(m, Not(HasSubstr("parts")));
  // Hidden fields and the proto name of a renamed one are no keys.
  EXPECT_THAT(std::string(ToSplit(R"({"version": 3})", &spec).message()),
              HasSubstr("steps.s.version: unknown key"));
  EXPECT_THAT(std::string(ToSplit(R"({"parts": []})", &spec).message()),
              HasSubstr("steps.s.parts: unknown key"));
}

TEST(ParamsToMessageTest, ATypeErrorNamesItsKeyAtAnyDepth) {
  v1::SplitSpec spec;
  EXPECT_THAT(std::string(ToSplit(R"({"seed": -1})", &spec).message()),
              HasSubstr("steps.s.seed: expected a whole number >= 0, not -1"));
  EXPECT_THAT(std::string(ToSplit(R"({"features": 3})", &spec).message()),
              HasSubstr("steps.s.features: expected a string"));
  EXPECT_THAT(
      std::string(ToSplit(R"({"ratios": {"train": "most"}})", &spec).message()),
      HasSubstr("steps.s.ratios.train: expected a number"));
  EXPECT_THAT(std::string(ToSplit(R"({"cutoffs": ["soon"]})", &spec).message()),
              HasSubstr("steps.s.cutoffs: expected a list, each an RFC 3339 "
                        "time"));
}

TEST(ParamsToMessageTest, AScalarInsideANestedMessageSaysWhatItTakes) {
  v1::SplitSpec spec;
  auto text = ParamsToMessage(
      Params(R"({"parts": [{"name": "a", "ratio": "most"}]})"), {}, "p", &spec);
  EXPECT_THAT(std::string(text.message()),
              HasSubstr("p.parts[0].ratio: expected a number, not \"most\""));
  auto list =
      ParamsToMessage(Params(R"({"parts": [{"ratio": [1]}]})"), {}, "p", &spec);
  EXPECT_THAT(std::string(list.message()),
              HasSubstr("p.parts[0].ratio: expected a number, not [1]"));
}

TEST(ParamsToMessageTest, EnumsInAnyCaseAndABadOneListsTheValues) {
  v1::IngestHeader h;
  ASSERT_TRUE(
      ParamsToMessage(Params(R"({"format": "jsonl"})"), {}, "p", &h).ok());
  EXPECT_EQ(h.format(), v1::JSONL);
  auto bad = ParamsToMessage(Params(R"({"format": "parquet"})"), {}, "p", &h);
  EXPECT_THAT(std::string(bad.message()),
              HasSubstr("p.format: 'parquet' is not one of: csv, jsonl, "
                        "frames"));
}

}  // namespace
}  // namespace mlpipe::config
