// Authentication and authorization on the server's port (an auth::Policy
// applied to every call before it reaches a service), the caller's principal
// for handlers, and the bearer token this process's own calls carry.
#ifndef MLPIPE_COMMON_RPC_AUTH_H_
#define MLPIPE_COMMON_RPC_AUTH_H_

#include <functional>
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

// The policy handlers identify callers with (Server::Start sets it when it
// applies one; one per process).
void SetActivePolicy(std::shared_ptr<const auth::Policy> policy);

// Whether a policy applies on this process's server.
bool PolicyActive();

// Called with each call the policy refuses (on gRPC's thread, before the
// call is answered): the audit trail records them. One per process.
void SetDenialObserver(
    std::function<void(std::string_view method, const auth::Decision&)> f);

// The principal the policy proves for the call (its bearer token or client
// certificate); empty when no policy applies (a server without one) or the
// call came on the in-process channel (modules of one process).
std::string PrincipalOf(const grpc::ServerContextBase& context);

// What an audit field records for this call, given the request's claim
// (auth::Attribute with the call's principal).
absl::StatusOr<std::string> AttributionOf(
    const grpc::ServerContextBase& context, const std::string& claimed);

// OK when the call's caller may itself call `method` ("pkg.Service/Method"):
// for a service that acts on the caller's behalf with its own identity (the
// orchestrator running a pipeline's deploy step must not give a
// pipeline-runner an operator's powers). OK without a policy and for calls
// on the in-process channel; PERMISSION_DENIED naming principal and method
// otherwise.
absl::Status CallerMayCall(const grpc::ServerContextBase& context,
                           std::string_view method, std::string_view why);

// `request` with its set_by as the server records it (AttributionOf).
template <typename Request>
absl::StatusOr<Request> WithAttribution(const grpc::ServerContextBase& context,
                                        const Request& request) {
  auto by = AttributionOf(context, request.set_by());
  if (!by.ok()) return by.status();
  Request out = request;
  out.set_set_by(*std::move(by));
  return out;
}

// Every channel NewChannel makes from now on sends `authorization: Bearer
// <token>` (empty: none). Call once, at start.
void SetClientToken(std::string token);
// The token SetClientToken set ("" when none).
const std::string& ClientToken();

}  // namespace mlpipe::rpc

#endif  // MLPIPE_COMMON_RPC_AUTH_H_
