// Authentication and authorization on the server's port (an auth::Policy
// applied to every call before it reaches a service), the caller's principal
// for handlers, and the bearer token this process's own calls carry.
#ifndef MLPIPE_COMMON_RPC_AUTH_H_
#define MLPIPE_COMMON_RPC_AUTH_H_

#include <memory>
#include <string>

#include "common/auth/policy.h"
#include "common/rpc/tls.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_context.h"

namespace mlpipe::rpc {

// Credentials for a listening port: TLS when `tls` has a certificate (mutual
// TLS with a CA), else plaintext; every call is authenticated and authorized
// by `policy` first. Refused calls end UNAUTHENTICATED (no or unknown
// credentials) or PERMISSION_DENIED (no role allows the method), counted in
// mlpipe_auth_denied_total{method,reason} and logged. Calls on the server's
// in-process channel (modules of one process calling each other) do not pass
// here.
std::shared_ptr<grpc::ServerCredentials> PolicyServerCredentials(
    std::shared_ptr<const auth::Policy> policy, const TlsMaterial& tls);

// The principal the policy found for the call; empty when no policy applied
// (a server without one, or the in-process channel).
std::string PrincipalOf(const grpc::ServerContextBase& context);

// Every channel NewChannel makes from now on sends `authorization: Bearer
// <token>` (empty: none). Call once, at start.
void SetClientToken(std::string token);
// The token SetClientToken set ("" when none).
const std::string& ClientToken();

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_AUTH_H_
