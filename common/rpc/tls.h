// TLS material for servers and channels (no gRPC headers: the host's
// options carry it).
#ifndef MLPIPE_COMMON_RPC_TLS_H_
#define MLPIPE_COMMON_RPC_TLS_H_

#include <string>

#include "absl/status/statusor.h"

namespace mlpipe::rpc {

// TLS material, as PEM files. With a certificate and key the server speaks
// TLS only; with a CA as well it requires and verifies client certificates
// (mutual TLS). For channels: the CA to verify servers with, and the
// client's own certificate and key for mutual TLS.
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  bool enabled() const { return !cert_file.empty() || !ca_file.empty(); }
};
// The files' contents; INVALID_ARGUMENT naming an unreadable file, or a
// certificate without its key.
struct TlsMaterial {
  std::string cert, key, ca;
};
absl::StatusOr<TlsMaterial> ReadTls(const TlsFiles& files);

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_TLS_H_
