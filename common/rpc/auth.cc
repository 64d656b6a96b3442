#include "common/rpc/auth.h"

#include <mutex>

#include "absl/container/flat_hash_set.h"
#include "common/metrics/metrics.h"
#include "common/util/log.h"
#include "common/util/per_second.h"
#include "common/util/strings.h"
#include "google/protobuf/descriptor.h"
#include "grpc/grpc.h"
#include "grpc/grpc_security.h"

namespace mlpipe::rpc {
namespace {

// The policy the process's server applies (handlers identify callers with
// it): gRPC core hands the processor the connection's auth context, shared
// by every call on the connection, so nothing per call can be left there.
std::mutex active_mu;
std::shared_ptr<const auth::Policy>* active = nullptr;

using DenialObserver =
    std::function<void(std::string_view, const auth::Decision&)>;
DenialObserver* denial_observer = nullptr;  // GUARDED_BY(active_mu)

DenialObserver Observer() {
  std::lock_guard lock(active_mu);
  return denial_observer != nullptr ? *denial_observer : nullptr;
}

std::shared_ptr<const auth::Policy> ActivePolicy() {
  std::lock_guard lock(active_mu);
  return active != nullptr ? *active : nullptr;
}

std::string_view View(const grpc_slice& s) {
  return {reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)),
          GRPC_SLICE_LENGTH(s)};
}

void AddProperties(grpc_auth_context* ctx, const char* name,
                   std::vector<std::string_view>* out) {
  grpc_auth_property_iterator it =
      grpc_auth_context_find_properties_by_name(ctx, name);
  while (const grpc_auth_property* p = grpc_auth_property_iterator_next(&it))
    out->emplace_back(p->value, p->value_length);
}

prometheus::Family<prometheus::Counter>& Denied() {
  static auto& f = prometheus::BuildCounter()
                       .Name("mlpipe_auth_denied_total")
                       .Help(
                           "Calls refused by the authorization policy, by "
                           "method and reason (no_credentials, "
                           "malformed_credentials, unknown_token, "
                           "unknown_certificate, not_allowed).")
                       .Register(metrics::Registry());
  return f;
}

// At most 20 denials logged each second (a client hammering with a bad
// token does not flood the log); the rest are counted and the count logged
// with the next one.
void LogDenial(const auth::Decision& d, std::string_view method) {
  static auto* budget = new PerSecondBudget(20);
  int64_t before = 0;
  if (!budget->Take(&before)) return;
  LogWarning("call refused", {{"method", std::string(method)},
                              {"principal", d.principal},
                              {"reason", d.reason},
                              {"not_logged_before", std::to_string(before)}});
}

// Whether "package.Service/Method" is a method of a service compiled into
// this process (the generated descriptors).
bool IsCompiledMethod(std::string_view method) {
  // Names found before, per thread: no copy and no lock of the descriptor
  // pool on the call path. Only compiled methods are kept (a bounded set).
  thread_local absl::flat_hash_set<std::string> known;
  if (known.contains(absl::string_view(method.data(), method.size())))
    return true;
  size_t slash = method.find('/');
  if (slash == std::string_view::npos) return false;
  std::string full(method);
  full[slash] = '.';
  if (google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
          full) == nullptr)
    return false;
  known.emplace(method);
  return true;
}

struct Authorizer {
  std::shared_ptr<const auth::Policy> policy;

  static void Process(void* state, grpc_auth_context* ctx,
                      const grpc_metadata* md, size_t num_md,
                      grpc_process_auth_metadata_done_cb done,
                      void* user_data) {
    const auth::Policy& policy = *static_cast<Authorizer*>(state)->policy;
    std::string_view method;
    const grpc_metadata* authorization = nullptr;
    int authorizations = 0;
    for (size_t i = 0; i < num_md; ++i) {
      std::string_view key = View(md[i].key);
      if (key == ":path") method = View(md[i].value);
      if (key == "authorization") {
        authorization = &md[i];
        ++authorizations;
      }
    }
    if (method.starts_with('/')) method.remove_prefix(1);
    auth::Decision d;
    if (!auth::IsPublicMethod(method) && !IsCompiledMethod(method)) {
      // Not a method of this platform: what gRPC would answer, and no
      // per-method state (metric series, cache entries) for made-up names.
      d.reason = "unknown_method";
      Denied().Add({{"method", "other"}, {"reason", d.reason}}).Increment();
      done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_UNIMPLEMENTED,
           "unknown method");
      return;
    }
    if (authorizations > 1) {
      // The handlers must see the credentials the decision saw.
      d.outcome = auth::Outcome::kUnauthenticated;
      d.reason = "malformed_credentials";
      d.message = StrCat(method, ": more than one authorization header");
    } else {
      auth::Credentials creds;
      if (authorization != nullptr)
        creds.authorization = View(authorization->value);
      AddProperties(ctx, GRPC_X509_CN_PROPERTY_NAME, &creds.common_names);
      AddProperties(ctx, GRPC_X509_SUBJECT_PROPERTY_NAME, &creds.subjects);
      AddProperties(ctx, GRPC_X509_SAN_PROPERTY_NAME, &creds.sans);
      d = policy.Authorize(method, creds);
    }
    if (d.outcome == auth::Outcome::kAllowed) {
      done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
      return;
    }
    Denied()
        .Add({{"method", std::string(method)}, {"reason", d.reason}})
        .Increment();
    LogDenial(d, method);
    if (auto observe = Observer()) observe(method, d);
    done(user_data, nullptr, 0, nullptr, 0,
         d.outcome == auth::Outcome::kUnauthenticated
             ? GRPC_STATUS_UNAUTHENTICATED
             : GRPC_STATUS_PERMISSION_DENIED,
         d.message.c_str());
  }

  static void Destroy(void* state) { delete static_cast<Authorizer*>(state); }
};

// Server credentials made from gRPC core's (grpcpp's insecure credentials
// take no metadata processor; core's do, plaintext or TLS alike).
class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit CoreServerCredentials(grpc_server_credentials* core) : core_(core) {}
  ~CoreServerCredentials() override { grpc_server_credentials_release(core_); }
  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    // The policy is the processor (set at construction).
    std::abort();
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), core_);
  }
  grpc_server_credentials* core_;
};

std::string& Token() {
  static auto* t = new std::string;
  return *t;
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> PolicyServerCredentials(
    std::shared_ptr<const auth::Policy> policy, const TlsMaterial& tls) {
  grpc_server_credentials* core = nullptr;
  if (tls.cert.empty()) {
    core = grpc_insecure_server_credentials_create();
  } else {
    grpc_ssl_pem_key_cert_pair pair{tls.key.c_str(), tls.cert.c_str()};
    core = grpc_ssl_server_credentials_create_ex(
        tls.ca.empty() ? nullptr : tls.ca.c_str(), &pair, 1,
        tls.ca.empty()
            ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
            : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
        nullptr);
  }
  grpc_server_credentials_set_auth_metadata_processor(
      core, {&Authorizer::Process, &Authorizer::Destroy,
             new Authorizer{std::move(policy)}});
  return std::make_shared<CoreServerCredentials>(core);
}

void SetActivePolicy(std::shared_ptr<const auth::Policy> policy) {
  std::lock_guard lock(active_mu);
  if (active == nullptr) active = new std::shared_ptr<const auth::Policy>;
  *active = std::move(policy);
}

bool PolicyActive() { return ActivePolicy() != nullptr; }

void SetDenialObserver(DenialObserver f) {
  std::lock_guard lock(active_mu);
  delete denial_observer;
  denial_observer = new DenialObserver(std::move(f));
}

// Who made the call, by the active policy; `network` when it came through
// a listening port (in-process calls carry no transport security type).
struct CallIdentity {
  auth::Policy::Identity id;
  bool network = false;
  bool may_call = false;  // Whether it may call IdentityOf's `may_call`.
};

static CallIdentity IdentityOf(const grpc::ServerContextBase& context,
                               std::string_view may_call = {}) {
  CallIdentity out;
  auto policy = ActivePolicy();
  if (policy == nullptr) return out;
  auto auth = context.auth_context();
  if (auth != nullptr)
    out.network =
        !auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)
             .empty();
  auth::Credentials creds;
  const auto& md = context.client_metadata();
  auto [first, last] = md.equal_range("authorization");
  if (first != last) {
    if (std::next(first) != last) return out;  // Refused at the door.
    creds.authorization =
        std::string_view(first->second.data(), first->second.size());
  }
  auto add = [&](const char* name, std::vector<std::string_view>* values) {
    for (const auto& v : auth->FindPropertyValues(name))
      values->emplace_back(v.data(), v.size());
  };
  if (auth != nullptr) {
    add(GRPC_X509_CN_PROPERTY_NAME, &creds.common_names);
    add(GRPC_X509_SUBJECT_PROPERTY_NAME, &creds.subjects);
    add(GRPC_X509_SAN_PROPERTY_NAME, &creds.sans);
  }
  out.id = policy->Identify(creds);
  if (!may_call.empty())
    out.may_call =
        policy->Authorize(may_call, creds).outcome == auth::Outcome::kAllowed;
  return out;
}

std::string PrincipalOf(const grpc::ServerContextBase& context) {
  CallIdentity c = IdentityOf(context);
  if (c.id.principal.empty() && c.network) return "(unidentified)";
  return c.id.principal;
}

absl::StatusOr<std::string> AttributionOf(
    const grpc::ServerContextBase& context, const std::string& claimed) {
  CallIdentity c = IdentityOf(context);
  if (c.id.principal.empty() && c.network) {
    // Fail closed: a call through the port under a policy always has a
    // principal; one the handler cannot find records nothing.
    return absl::PermissionDeniedError(
        "the caller's credentials could not be identified");
  }
  return auth::Attribute(c.id.principal, c.id.service, claimed);
}

absl::Status CallerMayCall(const grpc::ServerContextBase& context,
                           std::string_view method, std::string_view why) {
  CallIdentity c = IdentityOf(context, method);
  if (!c.network || c.may_call) return absl::OkStatus();
  return absl::PermissionDeniedError(
      StrCat(why, ": principal '",
             c.id.principal.empty() ? "(unidentified)" : c.id.principal,
             "' may not call ", method, " itself, so may not have it done"));
}

void SetClientToken(std::string token) { Token() = std::move(token); }
const std::string& ClientToken() { return Token(); }

}  // namespace mlpipe::rpc
