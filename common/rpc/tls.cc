#include "common/rpc/tls.h"

#include "common/util/files.h"

namespace mlpipe::rpc {

absl::StatusOr<TlsMaterial> ReadTls(const TlsFiles& files) {
  TlsMaterial m;
  if (files.cert_file.empty() != files.key_file.empty())
    return absl::InvalidArgumentError(
        "tls: a certificate needs its key (and a key its certificate)");
  if (!files.cert_file.empty()) {
    auto cert = ReadSmallFile(files.cert_file, "tls certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadSmallFile(files.key_file, "tls key");
    if (!key.ok()) return key.status();
    m.cert = std::move(*cert);
    m.key = std::move(*key);
  }
  if (!files.ca_file.empty()) {
    auto ca = ReadSmallFile(files.ca_file, "tls CA");
    if (!ca.ok()) return ca.status();
    m.ca = std::move(*ca);
  }
  return m;
}

}  // namespace mlpipe::rpc
