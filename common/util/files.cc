#include "common/util/files.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "common/util/strings.h"

namespace mlpipe {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path,
                                          std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty())
    return absl::InvalidArgumentError(
        StrCat(what, ": cannot read '", path, "'"));
  return text.str();
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path,
                                          std::string_view what) {
  auto text = ReadSmallFile(path, what);
  if (!text.ok()) return text.status();
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty())
    return absl::InvalidArgumentError(
        StrCat(what, ": no token in '", path, "'"));
  return token;
}

}  // namespace mlpipe
