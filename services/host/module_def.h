// What a server binary needs to know of a module: its name and how to open
// it (ModuleDef), and the main() that serves a list of them (ServerMain).
// Light on purpose: every main.cc includes it (through services/modules.h)
// and nothing of the modules themselves.
#ifndef MLPIPE_SERVICES_HOST_MODULE_DEF_H_
#define MLPIPE_SERVICES_HOST_MODULE_DEF_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace mlpipe::rpc {
class Peers;
}  // namespace mlpipe::rpc

namespace mlpipe::host {

class ServiceModule;

// What a module is opened with.
struct ModuleEnv {
  // NOLINTNEXTLINE(google-explicit-constructor): a data dir alone is an env.
  ModuleEnv(std::string data_dir, std::shared_ptr<rpc::Peers> peers = nullptr)
      : data_dir(std::move(data_dir)), peers(std::move(peers)) {}
  ModuleEnv(const char* data_dir) : ModuleEnv(std::string(data_dir)) {}

  // The module's store is <data_dir>/<module name>.
  std::string data_dir;
  // Where the other services are; nullptr: every one in this process.
  std::shared_ptr<rpc::Peers> peers;
  // The store's free-disk reserve (storage::Options::min_free_bytes).
  uint64_t min_free_bytes = 64 << 20;
  // RocksDB memory of the process: half block cache, half memtables
  // (storage::Options::block_cache_bytes, write_buffer_bytes).
  uint64_t store_memory_bytes = 128 << 20;
};

// A module as the server binaries know it: its name and how to open it with
// the options its flags give (the flags are defined beside the module).
struct ModuleDef {
  std::string name;
  std::function<absl::StatusOr<std::unique_ptr<ServiceModule>>(
      const ModuleEnv&)>
      open;
};

// The whole main() of a server binary: parses the flags (the shared ones in
// services/host/flags.cc and each module's own), opens `modules` in order
// with the peers the --*_address flags name, serves them until SIGTERM or
// SIGINT and drains. Returns the process's exit code.
int ServerMain(int argc, char** argv, const std::string& process,
               const char* usage, const std::vector<ModuleDef>& modules);

}  // namespace mlpipe::host

#endif  // MLPIPE_SERVICES_HOST_MODULE_DEF_H_
