// Who may call what: principals (a bearer token's SHA-256, or a verified
// client certificate's common name / subject / SAN) mapped to roles, roles
// mapped to gRPC methods. Default deny: a method no role of the caller names
// is refused. No gRPC here (common/rpc/auth.h applies a policy to a server).
//
// The policy file (--auth_policy), YAML; unknown keys are errors:
//
//   principals:
//     alice:                       # the name audit records carry
//       token_sha256: 9f86d08...   # hex SHA-256 of the token; a list rotates
//       roles: [admin]
//     scoring-app:
//       certificate: {common_name: scoring-app}   # or subject, san (all given
//       roles: [scorer]                           #  must match)
//   roles:                         # roles of one's own, beside the built-in
//     fraud-scorer:
//       methods: [mlpipe.v1.Scoring/Predict, "mlpipe.v1.Prep/Get*"]
//
// A method is "package.Service/Method"; '*' in a pattern matches any run of
// characters. grpc.health.v1 and server reflection need no credentials.
#ifndef MLPIPE_COMMON_AUTH_POLICY_H_
#define MLPIPE_COMMON_AUTH_POLICY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace mlpipe::auth {

// What a caller presented on one call.
struct Credentials {
  // The `authorization` header, when sent ("Bearer <token>").
  std::optional<std::string_view> authorization;
  // Of the client certificate the TLS handshake verified (empty without).
  std::vector<std::string_view> common_names, subjects, sans;
};

enum class Outcome { kAllowed, kUnauthenticated, kPermissionDenied };

struct Decision {
  Outcome outcome = Outcome::kUnauthenticated;
  // The caller's name in the policy, once known (also when denied).
  std::string principal;
  // Whether it holds a service role (service-*): a service of the platform.
  bool service = false;
  // Why not, as a metric label: no_credentials, malformed_credentials,
  // unknown_token, unknown_certificate, not_allowed.
  std::string reason;
  // For the caller: names the method and the principal, never the token.
  std::string message;
};

struct Role {
  std::string name;
  std::string description;
  std::vector<std::string> methods;  // Patterns.
};

// The built-in roles: scorer, reader, data-writer, pipeline-runner, operator,
// admin, and one per service identity (service-ingest ... service-monitor).
const std::vector<Role>& BuiltinRoles();
// Methods only `admin` may call (deletes); every other method of the
// platform is named by a narrower built-in role (auth_test checks this).
const std::vector<std::string>& AdminOnlyMethods();
bool IsAdminOnly(std::string_view method);
// Whether calls of `method` go to the audit trail: what changes something
// (a method of data-writer, pipeline-runner or operator, or admin-only),
// not reads, predictions, or services' own traffic (logged predictions,
// trials).
bool IsAuditedMethod(std::string_view method);
// Health checks and reflection: callable without credentials.
bool IsPublicMethod(std::string_view method);
// Whether `pattern` ('*': any run of characters) matches `method`.
bool MethodMatches(std::string_view pattern, std::string_view method);
// The lowercase hex SHA-256 of a token, as `token_sha256` holds it.
std::string TokenSha256(std::string_view token);

// What an audit field (set_by, a run's trigger) records for a call, given
// what the request `claimed` there ("" for nothing):
//  - no principal (a server without a policy, or a module of the same
//    process calling): the claim as made;
//  - a service identity: the claim, which it relays from the call it
//    checked itself ("run:<id>/<step>", "monitor:alert-<id>", "user:<name>");
//    "service:<principal>" when it claims nothing;
//  - anyone else: "user:<principal>"; claiming any other name is
//    PERMISSION_DENIED (a client cannot write "run:..." or another user).
absl::StatusOr<std::string> Attribute(std::string_view principal, bool service,
                                      std::string_view claimed);

class Policy {
 public:
  // INVALID_ARGUMENT naming FILE:LINE, the field and the reason.
  static absl::StatusOr<std::shared_ptr<const Policy>> Parse(
      std::string_view yaml, const std::string& file);
  static absl::StatusOr<std::shared_ptr<const Policy>> Load(
      const std::string& path);

  // `method`: "package.Service/Method" (a leading '/' is ignored).
  // Thread-safe.
  Decision Authorize(std::string_view method, const Credentials& c) const;
  // Who presented `c`: the principal and whether it is a service identity;
  // an empty name when the credentials are missing or unknown.
  struct Identity {
    std::string principal;
    bool service = false;
  };
  Identity Identify(const Credentials& c) const;
  // Whether `role` (built-in or the policy's own) allows `method`.
  bool RoleAllows(std::string_view role, std::string_view method) const;
  // Whether any of `roles` allows `method` (one lookup of the method).
  bool AnyRoleAllows(const std::vector<std::string_view>& roles,
                     std::string_view method) const;
  size_t principal_count() const { return principals_.size(); }

 private:
  struct CertificateMatch {
    std::string common_name, subject, san;  // Empty: any.
  };
  struct Principal {
    std::string name;
    std::vector<std::string> token_sha256;
    std::optional<CertificateMatch> certificate;
    uint64_t roles = 0;    // Bit i: roles_[i].
    bool service = false;  // Holds a service-* role.
  };
  class Parser;
  Policy();
  const Principal* FindByToken(std::string_view token) const;
  const Principal* FindByCertificate(const Credentials& c) const;
  uint64_t RolesAllowing(std::string_view method) const;
  uint64_t AdminMask() const;

  // Tells this policy from others in per-thread memos (FindByToken).
  const uint64_t id_;
  // Longer tokens are hashed at every call, never kept.
  static constexpr size_t kMaxRememberedToken = 512;
  std::vector<Role> roles_;  // Built-in first, then the policy's; <= 64.
  std::map<std::string, int, std::less<>> role_index_;
  std::vector<Principal> principals_;
  absl::flat_hash_map<std::string, size_t> by_token_;  // Hash -> principal.
  // Roles allowing a method, by method: filled as methods are called, up to
  // kMaxCachedMethods (what clients send does not grow it without bound).
  static constexpr size_t kMaxCachedMethods = 4096;
  mutable absl::Mutex mu_;
  mutable absl::flat_hash_map<std::string, uint64_t> cache_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace mlpipe::auth

#endif  // MLPIPE_COMMON_AUTH_POLICY_H_
