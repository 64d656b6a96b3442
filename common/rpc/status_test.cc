#include "common/rpc/status.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace mlpipe::rpc {
namespace {

using ::testing::HasSubstr;

TEST(BoundedMessageTest, LongEchoesAreCutAndBadBytesReplaced) {
  EXPECT_EQ(BoundedMessage("model 'credit:9' not found"),
            "model 'credit:9' not found");
  const std::string echoed =
      "model '" + std::string(100000, 'x') + "' not found";
  const std::string m = BoundedMessage(echoed);
  EXPECT_LT(m.size(), 300u);
  EXPECT_THAT(m, HasSubstr("...[99802 bytes cut] not found"));
  EXPECT_EQ(BoundedMessage("caf\xC3\xA9 Jos\xE9"), "caf\xC3\xA9 Jos?");
  // A cut never splits a character.
  const std::string wide = BoundedMessage(std::string(300, 'a') + "\xC3\xA9");
  EXPECT_THAT(wide, HasSubstr("...[102 bytes cut]"));
  std::string words;
  for (int i = 0; i < 2000; ++i) words += "word ";
  EXPECT_LE(BoundedMessage(words).size(),
            kMaxMessageBytes + std::string("...[message cut]").size() + 4);
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError(echoed)).error_message(), m);
}

}  // namespace
}  // namespace mlpipe::rpc
