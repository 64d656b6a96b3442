#include "cli/client_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "common/util/strings.h"
#include "yaml-cpp/yaml.h"

namespace mlpipe::cli {
namespace {

namespace fs = std::filesystem;

const std::set<std::string>& ContextKeys() {
  static const auto* keys = new std::set<std::string>{
      "server", "ingest-server", "token",  "token-file",
      "tls-ca", "tls-cert",      "tls-key"};
  return *keys;
}

bool IsPath(const std::string& key) {
  return key == "token-file" || key.starts_with("tls-");
}

// "~/x" under $HOME; a relative path under the config file's folder.
std::string ResolvePath(const std::string& value, const fs::path& base) {
  if (value.starts_with("~/")) {
    const char* home = std::getenv("HOME");
    return (fs::path(home != nullptr ? home : "") / value.substr(2)).string();
  }
  fs::path p(value);
  return p.is_absolute() ? value : (base / p).string();
}

absl::Status Error(const std::string& file, const YAML::Node& node,
                   const std::string& field, const std::string& reason) {
  return absl::InvalidArgumentError(
      StrCat(file, ":", node.IsDefined() ? node.Mark().line + 1 : 0, ": ",
             field, ": ", reason));
}

}  // namespace

std::string ClientConfigPath() {
  if (const char* p = std::getenv("MLPIPE_CONFIG"); p != nullptr && *p)
    return p;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x != nullptr && *x)
    return StrCat(x, "/mlpipe/config.yaml");
  const char* home = std::getenv("HOME");
  return StrCat(home != nullptr ? home : "", "/.config/mlpipe/config.yaml");
}

absl::StatusOr<ClientConfig> LoadClientConfig(const std::string& path) {
  ClientConfig c;
  c.path = path;
  std::error_code ec;
  if (!fs::exists(path, ec)) return c;
  const fs::path base = fs::absolute(path).parent_path();
  try {
    YAML::Node root = YAML::LoadFile(path);
    if (root.IsNull()) return c;
    if (!root.IsMap()) return Error(path, root, "config", "expected a mapping");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (key == "current-context") {
        c.current = kv.second.as<std::string>();
      } else if (key == "contexts") {
        if (!kv.second.IsMap())
          return Error(path, kv.second, key, "expected a mapping of contexts");
        for (const auto& ctx : kv.second) {
          const std::string name = ctx.first.as<std::string>();
          if (!ctx.second.IsMap())
            return Error(path, ctx.second, "contexts." + name,
                         "expected a mapping");
          auto& out = c.contexts[name];
          for (const auto& f : ctx.second) {
            const std::string k = f.first.as<std::string>();
            if (!ContextKeys().contains(k))
              return Error(path, f.first, "contexts." + name + "." + k,
                           "unknown key (known: server, ingest-server, token, "
                           "token-file, tls-ca, tls-cert, tls-key)");
            if (!f.second.IsScalar())
              return Error(path, f.second, "contexts." + name + "." + k,
                           "expected a string");
            out[k] = IsPath(k) ? ResolvePath(f.second.Scalar(), base)
                               : f.second.Scalar();
          }
        }
      } else {
        return Error(path, kv.first, key,
                     "unknown key (known: current-context, contexts)");
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat(path, ":", e.mark.line + 1, ": invalid YAML: ", e.msg));
  }
  if (!c.current.empty() && !c.contexts.contains(c.current))
    return absl::InvalidArgumentError(
        StrCat(path, ": current-context: no context '", c.current, "'"));
  return c;
}

absl::Status UseContext(const std::string& path, const std::string& name) {
  auto c = LoadClientConfig(path);
  if (!c.ok()) return c.status();
  if (!c->contexts.contains(name))
    return absl::NotFoundError(StrCat(path, ": no context '", name, "'"));
  YAML::Node root = YAML::LoadFile(path);
  root["current-context"] = name;
  const std::string tmp = path + ".tmp";
  {
    // Created owner-only, then given the file's own permissions: a context
    // may hold a token.
    std::error_code ec;
    fs::remove(tmp, ec);
    const int fd =
        open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) return absl::InternalError(StrCat("cannot write ", tmp));
    close(fd);
    std::ofstream out(tmp);
    out << root << "\n";
    if (!out) return absl::InternalError(StrCat("cannot write ", tmp));
    fs::permissions(tmp, fs::status(path).permissions(), ec);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) return absl::InternalError(StrCat("cannot replace ", path));
  return absl::OkStatus();
}

}  // namespace mlpipe::cli
