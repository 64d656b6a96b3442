// The CLI's configuration file, kubeconfig-like: named contexts, each a
// server and the credentials for it, and the current one.
//
//   # ~/.config/mlpipe/config.yaml ($MLPIPE_CONFIG overrides the path)
//   current-context: prod
//   contexts:
//     prod:
//       server: mlpipe.example.com:7000
//       token-file: ~/.config/mlpipe/prod.token
//       tls-ca: ca.crt                # relative: to this file's folder
//     local:
//       server: localhost:7000
//
// A flag beats its environment variable, which beats the context.
#ifndef MLPIPE_CLI_CLIENT_CONFIG_H_
#define MLPIPE_CLI_CLIENT_CONFIG_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace mlpipe::cli {

struct ClientConfig {
  std::string path;
  std::string current;  // current-context ("" when unset).
  // Context name -> key (server, ingest-server, token, token-file, tls-ca,
  // tls-cert, tls-key) -> value; paths made absolute.
  std::map<std::string, std::map<std::string, std::string>> contexts;
};

// $MLPIPE_CONFIG, else $XDG_CONFIG_HOME/mlpipe/config.yaml, else
// ~/.config/mlpipe/config.yaml.
std::string ClientConfigPath();
// An absent file is an empty configuration; INVALID_ARGUMENT naming
// FILE:LINE and the key for anything else it cannot take.
absl::StatusOr<ClientConfig> LoadClientConfig(const std::string& path);
// Rewrites the file with `name` as the current context (comments are not
// kept). NOT_FOUND when there is no such context.
absl::Status UseContext(const std::string& path, const std::string& name);

}  // namespace mlpipe::cli

#endif  // MLPIPE_CLI_CLIENT_CONFIG_H_
