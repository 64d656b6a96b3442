#include "common/rpc/tls.h"

#include <fstream>
#include <sstream>

#include "common/util/strings.h"

namespace mlpipe::rpc {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  if (!in || out.str().empty())
    return absl::InvalidArgumentError(
        StrCat(what, ": cannot read '", path, "'"));
  return out.str();
}

}  // namespace

absl::StatusOr<TlsMaterial> ReadTls(const TlsFiles& files) {
  TlsMaterial m;
  if (files.cert_file.empty() != files.key_file.empty())
    return absl::InvalidArgumentError(
        "tls: a certificate needs its key (and a key its certificate)");
  if (!files.cert_file.empty()) {
    auto cert = ReadFile(files.cert_file, "tls certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadFile(files.key_file, "tls key");
    if (!key.ok()) return key.status();
    m.cert = std::move(*cert);
    m.key = std::move(*key);
  }
  if (!files.ca_file.empty()) {
    auto ca = ReadFile(files.ca_file, "tls CA");
    if (!ca.ok()) return ca.status();
    m.ca = std::move(*ca);
  }
  return m;
}

}  // namespace mlpipe::rpc
