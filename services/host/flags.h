// The command-line flags every mlpipe server binary shares: where the data
// is, where the other services are, how to serve. A module's own flags are
// defined beside the module.
#ifndef MLPIPE_SERVICES_HOST_FLAGS_H_
#define MLPIPE_SERVICES_HOST_FLAGS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "services/host/host.h"

namespace mlpipe::host {

// Parses argv (exits with usage on bad flags) after blocking termination
// signals, so it must be the first thing main() does. Exits 2 naming the
// problem when the policy, a TLS file or this process's token cannot be
// read, or when --bind is not a loopback address and there is no
// --auth_policy (unless --insecure_no_auth).
void InitServerProcess(int argc, char** argv, const char* usage);

// For a helper process of a server (no server of its own): parses argv and
// sets the client TLS material and token (--tls_*, --auth_token_file) as
// InitServerProcess does; exits 2 naming an unreadable file.
void InitClientProcess(int argc, char** argv, const char* usage);

// The flags a helper process needs to call the other services as this one
// does: --tls_cert, --tls_key, --tls_ca, --auth_token_file (those given).
std::vector<std::string> ClientCredentialFlags();

// --bind, --grpc_port, --metrics_port, --port_file, --drain_seconds,
// --tls_*, --auth_policy, --reflection.
HostOptions HostOptionsFromFlags();

// Whether `host` ("127.0.0.1", "::1", "localhost", ...) is loopback only.
bool IsLoopback(const std::string& host);

// --data_dir.
std::string DataDirFromFlags();
// --min_free_disk_mb in bytes.
uint64_t MinFreeBytesFromFlags();
// --store_memory_mb in bytes (at least 8 MiB).
uint64_t StoreMemoryBytesFromFlags();

// --ingest_address, --prep_address, ... --orchestrator_address: service name
// -> address ("" for a service hosted in this process).
std::map<std::string, std::string> PeerAddressesFromFlags();

}  // namespace mlpipe::host

#endif  // MLPIPE_SERVICES_HOST_FLAGS_H_
