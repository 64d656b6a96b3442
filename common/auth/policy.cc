#include "common/auth/policy.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/util/sha256.h"
#include "common/util/strings.h"
#include "yaml-cpp/yaml.h"

namespace mlpipe::auth {
namespace {

constexpr std::string_view kReadMethods[] = {
    "*/Get*",   "*/List*",    "*/Read*",
    "*/Watch*", "*/*History", "mlpipe.v1.Events/Subscribe"};

// A role's patterns: `extra` after the reader's.
std::vector<std::string> ReaderAnd(std::vector<std::string> extra) {
  std::vector<std::string> out(std::begin(kReadMethods),
                               std::end(kReadMethods));
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

const std::vector<std::string>& RunnerMethods() {
  static const auto* m = new std::vector<std::string>{
      "mlpipe.v1.Orchestrator/SubmitRun",
      "mlpipe.v1.Orchestrator/ResumeRun",
      "mlpipe.v1.Orchestrator/CancelRun",
      "mlpipe.v1.Orchestrator/CreateSchedule",
      "mlpipe.v1.Orchestrator/DeleteSchedule",
      "mlpipe.v1.Training/StartTraining",
      "mlpipe.v1.Training/CancelJob",
      "mlpipe.v1.Evaluator/Evaluate",
      "mlpipe.v1.Prep/Prepare",
      "mlpipe.v1.Prep/Validate",
      "mlpipe.v1.Prep/ComputeStatistics",
      "mlpipe.v1.Prep/CompareStatistics",
      "mlpipe.v1.Splits/CreateSplit",
      "mlpipe.v1.Operations/CancelOperation",
  };
  return *m;
}

const std::vector<std::string>& OperatorMethods() {
  static const auto* m = new std::vector<std::string>{
      "mlpipe.v1.Scoring/Deploy",
      "mlpipe.v1.Scoring/Undeploy",
      "mlpipe.v1.Scoring/Rollback",
      "mlpipe.v1.Scoring/StartBatchScoring",
      "mlpipe.v1.Orchestrator/SetAlias",
      "mlpipe.v1.Monitor/SetPolicy",
      "mlpipe.v1.Monitor/SetReference",
      "mlpipe.v1.Monitor/RecordActuals",
      "mlpipe.v1.Monitor/StartRollout",
      "mlpipe.v1.Monitor/PauseRollout",
      "mlpipe.v1.Monitor/ResumeRollout",
      "mlpipe.v1.Monitor/AbortRollout",
      "mlpipe.v1.Ingestion/RevertDataset",
      "mlpipe.v1.Operations/CancelOperation",
  };
  return *m;
}

std::vector<std::string> Concat(std::vector<std::vector<std::string>> parts) {
  std::vector<std::string> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<Role> MakeBuiltinRoles() {
  const std::vector<std::string> ingest = {
      "mlpipe.v1.Ingestion/Ingest", "mlpipe.v1.Ingestion/IngestFile",
      "mlpipe.v1.Ingestion/Push", "mlpipe.v1.Ingestion/FlushPushes"};
  return {
      {"scorer",
       "online predictions and their metadata",
       {"mlpipe.v1.Scoring/Predict", "mlpipe.v1.Scoring/ListDeployments",
        "mlpipe.v1.Prep/GetOnlineFeatures",
        "inference.GRPCInferenceService/*"}},
      {"reader", "every Get, List, Read and Watch, history and events",
       ReaderAnd({})},
      {"data-writer", "uploads and pushes rows to datasets", ingest},
      {"pipeline-runner",
       "runs pipelines and schedules; ad hoc prep, split, training, "
       "evaluation",
       RunnerMethods()},
      {"operator",
       "deploys, routes, rolls back; canary rollouts; aliases, monitoring "
       "policies and references, actuals, batch scoring",
       OperatorMethods()},
      {"admin", "everything, deletes included", {"*"}},
      // Service identities: what each service calls on the others.
      {"service-ingest", "the ingestion service", ReaderAnd({})},
      {"service-prep", "the data-prep service", ReaderAnd({})},
      {"service-split", "the split service", ReaderAnd({})},
      {"service-train", "the train service and its workers",
       ReaderAnd(
           {"mlpipe.v1.Training/TrainTrial", "mlpipe.v1.Training/TrainShard"})},
      {"service-evaluate", "the evaluation service", ReaderAnd({})},
      {"service-score",
       "the scoring service (logs predictions, publishes routes)",
       ReaderAnd({"mlpipe.v1.Monitor/LogPredictions",
                  "mlpipe.v1.Orchestrator/SetAlias"})},
      {"service-monitor",
       "the monitoring service (automatic rollback, canary rollouts)",
       ReaderAnd({"mlpipe.v1.Scoring/Rollback", "mlpipe.v1.Scoring/Deploy"})},
      {"service-orchestrator", "the orchestrator (the steps it drives)",
       ReaderAnd(Concat({ingest, RunnerMethods(), OperatorMethods()}))},
  };
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// The token of an `authorization: Bearer <token>` header ("bearer" in any
// case); nullopt for any other form.
std::optional<std::string_view> BearerToken(std::string_view header) {
  constexpr size_t kPrefix = 7;  // "bearer "
  if (header.size() <= kPrefix ||
      !absl::EqualsIgnoreCase(absl::string_view(header.data(), kPrefix),
                              "bearer "))
    return std::nullopt;
  return header.substr(kPrefix);
}

bool Contains(const std::vector<std::string_view>& values,
              const std::string& want) {
  for (auto v : values) {
    if (v == want) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::string> Attribute(std::string_view principal, bool service,
                                      std::string_view claimed) {
  if (principal.empty()) return std::string(claimed);
  const std::string self = StrCat(service ? "service:" : "user:", principal);
  if (claimed.empty() || claimed == self) return self;
  if (service) return std::string(claimed);
  return absl::PermissionDeniedError(
      StrCat("set_by: principal '", principal, "' may not record '", claimed,
             "' as the author (the server records who called: ", self, ")"));
}

const std::vector<Role>& BuiltinRoles() {
  static const auto* roles = new std::vector<Role>(MakeBuiltinRoles());
  return *roles;
}

const std::vector<std::string>& AdminOnlyMethods() {
  static const auto* m = new std::vector<std::string>{
      "mlpipe.v1.Ingestion/DeleteDataset", "mlpipe.v1.Ingestion/DeleteBatch"};
  return *m;
}

bool IsAdminOnly(std::string_view method) {
  const auto& only = AdminOnlyMethods();
  return std::find(only.begin(), only.end(), method) != only.end();
}

bool IsAuditedMethod(std::string_view method) {
  // The built-in roles alone (a policy file cannot redefine them).
  static const auto* kept =
      new std::shared_ptr<const Policy>(Policy::Parse("", "").value());
  if (method.starts_with('/')) method.remove_prefix(1);
  // Asked on every call (the audit interceptor): answers kept per thread,
  // for as many methods as a platform has (names clients make up beyond
  // that are worked out each time, never kept).
  constexpr size_t kMaxKept = 1024;
  thread_local absl::flat_hash_map<std::string, bool> answers;
  if (auto it = answers.find(absl::string_view(method.data(), method.size()));
      it != answers.end())
    return it->second;
  const bool audited =
      (*kept)->AnyRoleAllows({"data-writer", "pipeline-runner", "operator"},
                             method) ||
      IsAdminOnly(method);
  if (answers.size() < kMaxKept) answers.emplace(method, audited);
  return audited;
}

bool IsPublicMethod(std::string_view method) {
  if (method.starts_with('/')) method.remove_prefix(1);
  return method.starts_with("grpc.health.v1.Health/") ||
         method.starts_with("grpc.reflection.v1alpha.ServerReflection/") ||
         method.starts_with("grpc.reflection.v1.ServerReflection/");
}

bool MethodMatches(std::string_view pattern, std::string_view method) {
  // Glob with '*' only: greedy with backtracking to the last star.
  size_t p = 0, m = 0, star = std::string_view::npos, mark = 0;
  while (m < method.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = m;
    } else if (p < pattern.size() && pattern[p] == method[m]) {
      ++p;
      ++m;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      m = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::string TokenSha256(std::string_view token) {
  Sha256 h;
  h.Update(token);
  return h.HexDigest().substr(std::string_view("sha256:").size());
}

// Reads the YAML into a Policy; every error names FILE:LINE and the field.
class Policy::Parser {
 public:
  Parser(std::string file, Policy* out) : file_(std::move(file)), p_(out) {}

  absl::Status Parse(const YAML::Node& root) {
    for (const auto& r : BuiltinRoles()) AddRole(r);
    if (root.IsNull()) return absl::OkStatus();
    if (!root.IsMap()) return Error(root, "policy", "expected a mapping");
    for (const auto& kv : root) {
      const std::string key = kv.first.as<std::string>();
      if (key != "principals" && key != "roles")
        return Error(kv.first, key, "unknown field (known: principals, roles)");
    }
    if (auto s = Roles(root["roles"]); !s.ok()) return s;
    return Principals(root["principals"]);
  }

 private:
  absl::Status Error(const YAML::Node& node, std::string_view field,
                     std::string_view reason) const {
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    return absl::InvalidArgumentError(
        StrCat(file_, ":", line, ": ", field, ": ", reason));
  }

  void AddRole(Role r) {
    p_->role_index_[r.name] = static_cast<int>(p_->roles_.size());
    p_->roles_.push_back(std::move(r));
  }

  absl::StatusOr<std::vector<std::string>> Strings(const YAML::Node& node,
                                                   const std::string& field) {
    std::vector<std::string> out;
    if (node.IsScalar()) {
      out.push_back(node.Scalar());
    } else if (node.IsSequence()) {
      for (const auto& item : node) {
        if (!item.IsScalar()) return Error(item, field, "expected a string");
        out.push_back(item.Scalar());
      }
    } else {
      return Error(node, field, "expected a string or a list of strings");
    }
    return out;
  }

  absl::Status Roles(const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) return Error(node, "roles", "expected a mapping");
    for (const auto& kv : node) {
      const std::string name = kv.first.as<std::string>();
      const std::string field = "roles." + name;
      if (p_->role_index_.contains(name))
        return Error(kv.first, field,
                     "already defined (built-in roles cannot be redefined)");
      if (!kv.second.IsMap())
        return Error(kv.second, field, "expected a mapping");
      Role role{name, "", {}};
      for (const auto& f : kv.second) {
        const std::string key = f.first.as<std::string>();
        if (key == "methods") {
          auto m = Strings(f.second, field + ".methods");
          if (!m.ok()) return m.status();
          role.methods = std::move(*m);
        } else if (key == "description") {
          role.description = f.second.as<std::string>();
        } else {
          return Error(f.first, field + "." + key,
                       "unknown field (known: methods, description)");
        }
      }
      if (role.methods.empty())
        return Error(kv.first, field + ".methods", "a role names its methods");
      if (p_->roles_.size() == 64)
        return Error(kv.first, field, "at most 64 roles in all");
      AddRole(std::move(role));
    }
    return absl::OkStatus();
  }

  absl::Status Principals(const YAML::Node& node) {
    if (!node.IsDefined() || node.IsNull()) return absl::OkStatus();
    if (!node.IsMap()) return Error(node, "principals", "expected a mapping");
    for (const auto& kv : node) {
      Principal pr;
      pr.name = kv.first.as<std::string>();
      const std::string field = "principals." + pr.name;
      for (const auto& other : p_->principals_) {
        if (other.name == pr.name)
          return Error(kv.first, field, "defined twice");
      }
      if (!kv.second.IsMap())
        return Error(kv.second, field, "expected a mapping");
      for (const auto& f : kv.second) {
        const std::string key = f.first.as<std::string>();
        absl::Status s;
        if (key == "token_sha256") {
          s = Tokens(f.second, field + ".token_sha256", &pr);
        } else if (key == "certificate") {
          s = Certificate(f.second, field + ".certificate", &pr);
        } else if (key == "roles") {
          s = PrincipalRoles(f.second, field + ".roles", &pr);
        } else {
          s = Error(f.first, field + "." + key,
                    "unknown field (known: token_sha256, certificate, roles)");
        }
        if (!s.ok()) return s;
      }
      if (pr.token_sha256.empty() && !pr.certificate)
        return Error(kv.first, field,
                     "needs token_sha256 or certificate (how it is known)");
      if (pr.roles == 0)
        return Error(kv.first, field + ".roles", "needs at least one role");
      for (const auto& h : pr.token_sha256)
        p_->by_token_[h] = p_->principals_.size();
      p_->principals_.push_back(std::move(pr));
    }
    return absl::OkStatus();
  }

  absl::Status Tokens(const YAML::Node& node, const std::string& field,
                      Principal* pr) {
    auto hashes = Strings(node, field);
    if (!hashes.ok()) return hashes.status();
    for (std::string h : *hashes) {
      if (h.starts_with("sha256:")) h = h.substr(7);
      h = absl::AsciiStrToLower(h);
      if (!IsSha256Hex(h))
        return Error(node, field,
                     "expected 64 hex digits, the SHA-256 of the token "
                     "(printf %s \"$TOKEN\" | sha256sum), not the token");
      if (p_->by_token_.contains(h) ||
          std::find(pr->token_sha256.begin(), pr->token_sha256.end(), h) !=
              pr->token_sha256.end())
        return Error(node, field, "this token is already another's");
      pr->token_sha256.push_back(h);
    }
    return absl::OkStatus();
  }

  absl::Status Certificate(const YAML::Node& node, const std::string& field,
                           Principal* pr) {
    if (!node.IsMap()) return Error(node, field, "expected a mapping");
    CertificateMatch m;
    for (const auto& f : node) {
      const std::string key = f.first.as<std::string>();
      if (!f.second.IsScalar() || f.second.Scalar().empty())
        return Error(f.second, field + "." + key, "expected a string");
      if (key == "common_name") {
        m.common_name = f.second.Scalar();
      } else if (key == "subject") {
        m.subject = f.second.Scalar();
      } else if (key == "san") {
        m.san = f.second.Scalar();
      } else {
        return Error(f.first, field + "." + key,
                     "unknown field (known: common_name, subject, san)");
      }
    }
    if (m.common_name.empty() && m.subject.empty() && m.san.empty())
      return Error(node, field, "needs common_name, subject or san");
    pr->certificate = std::move(m);
    return absl::OkStatus();
  }

  absl::Status PrincipalRoles(const YAML::Node& node, const std::string& field,
                              Principal* pr) {
    auto names = Strings(node, field);
    if (!names.ok()) return names.status();
    for (const auto& n : *names) {
      auto it = p_->role_index_.find(n);
      if (it == p_->role_index_.end()) {
        std::string known;
        for (const auto& r : p_->roles_)
          known += (known.empty() ? "" : ", ") + r.name;
        return Error(node, field,
                     StrCat("no role '", n, "' (known: ", known, ")"));
      }
      pr->roles |= uint64_t{1} << it->second;
      pr->service |= n.starts_with("service-");
    }
    return absl::OkStatus();
  }

  std::string file_;
  Policy* p_;
};

Policy::Policy()
    : id_([] {
        static std::atomic<uint64_t> next{1};
        return next.fetch_add(1, std::memory_order_relaxed);
      }()) {}

absl::StatusOr<std::shared_ptr<const Policy>> Policy::Parse(
    std::string_view yaml, const std::string& file) {
  std::shared_ptr<Policy> policy(new Policy());
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    Parser parser(file, policy.get());
    if (auto s = parser.Parse(root); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        StrCat(file, ":", e.mark.line + 1, ": invalid YAML: ", e.msg));
  }
  return std::shared_ptr<const Policy>(std::move(policy));
}

absl::StatusOr<std::shared_ptr<const Policy>> Policy::Load(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(
        StrCat("auth policy: cannot read '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

const Policy::Principal* Policy::FindByToken(std::string_view token) const {
  // The last token this thread looked up and whom it named: a client's
  // calls arrive on the same few threads with the same token, and hashing
  // it at every call was most of authorization's cost (TokenSha256: 2.2% of
  // a scoring server's samples under 32 clients). Compared in constant time
  // (the time tells nothing of where a guess differs).
  struct Last {
    uint64_t policy = 0;
    std::string token;
    const Principal* who = nullptr;
  };
  thread_local Last last;
  if (last.policy == id_ && last.token.size() == token.size() &&
      CRYPTO_memcmp(last.token.data(), token.data(), token.size()) == 0)
    return last.who;
  // Otherwise the lookup compares SHA-256 digests, not the token: how long
  // it takes tells nothing of the token (finding a token whose digest shares
  // a prefix with a stored one is a preimage search).
  auto it = by_token_.find(TokenSha256(token));
  const Principal* who =
      it == by_token_.end() ? nullptr : &principals_[it->second];
  if (token.size() <= kMaxRememberedToken) {
    last.policy = id_;
    last.token.assign(token);
    last.who = who;
  }
  return who;
}

const Policy::Principal* Policy::FindByCertificate(const Credentials& c) const {
  // A certificate two principals would match is no one's: which one it
  // is must not depend on the policy's order.
  const Principal* found = nullptr;
  for (const auto& p : principals_) {
    if (!p.certificate) continue;
    const CertificateMatch& m = *p.certificate;
    if ((m.common_name.empty() || Contains(c.common_names, m.common_name)) &&
        (m.subject.empty() || Contains(c.subjects, m.subject)) &&
        (m.san.empty() || Contains(c.sans, m.san))) {
      if (found != nullptr) return nullptr;
      found = &p;
    }
  }
  return found;
}

uint64_t Policy::RolesAllowing(std::string_view method) const {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = cache_.find(absl::string_view(method.data(), method.size()));
    if (it != cache_.end()) return it->second;
  }
  uint64_t mask = 0;
  for (size_t i = 0; i < roles_.size(); ++i) {
    for (const auto& pattern : roles_[i].methods) {
      if (MethodMatches(pattern, method)) {
        mask |= uint64_t{1} << i;
        break;
      }
    }
  }
  // Only what a role other than admin names is kept: what clients make up
  // does not fill the cache.
  if ((mask & ~AdminMask()) != 0 || IsAdminOnly(method)) {
    absl::MutexLock lock(&mu_);
    if (cache_.size() < kMaxCachedMethods)
      cache_.emplace(std::string(method), mask);
  }
  return mask;
}

uint64_t Policy::AdminMask() const {
  return uint64_t{1} << role_index_.find("admin")->second;
}

bool Policy::RoleAllows(std::string_view role, std::string_view method) const {
  if (method.starts_with('/')) method.remove_prefix(1);
  auto it = role_index_.find(role);
  return it != role_index_.end() &&
         (RolesAllowing(method) >> it->second & 1) != 0;
}

bool Policy::AnyRoleAllows(const std::vector<std::string_view>& roles,
                           std::string_view method) const {
  if (method.starts_with('/')) method.remove_prefix(1);
  uint64_t mask = 0;
  for (auto role : roles) {
    auto it = role_index_.find(role);
    if (it != role_index_.end()) mask |= uint64_t{1} << it->second;
  }
  return (RolesAllowing(method) & mask) != 0;
}

Policy::Identity Policy::Identify(const Credentials& c) const {
  const Principal* who = nullptr;
  if (!c.authorization) {
    who = FindByCertificate(c);
  } else if (auto token = BearerToken(*c.authorization)) {
    who = FindByToken(*token);
  }
  if (who == nullptr) return {};
  return {who->name, who->service};
}

Decision Policy::Authorize(std::string_view method,
                           const Credentials& c) const {
  if (method.starts_with('/')) method.remove_prefix(1);
  Decision d;
  const Principal* who = nullptr;
  if (c.authorization) {
    auto token = BearerToken(*c.authorization);
    if (!token) {
      d.reason = "malformed_credentials";
      d.message =
          StrCat(method, ": the authorization header must be 'Bearer <token>'");
    } else if ((who = FindByToken(*token)) == nullptr) {
      d.reason = "unknown_token";
      d.message = StrCat(method, ": the bearer token is not in the policy");
    }
  } else if (!c.common_names.empty() || !c.subjects.empty() ||
             !c.sans.empty()) {
    if ((who = FindByCertificate(c)) == nullptr) {
      d.reason = "unknown_certificate";
      d.message = StrCat(
          method, ": the client certificate (",
          c.subjects.empty()
              ? "CN=" +
                    std::string(c.common_names.empty() ? "" : c.common_names[0])
              : std::string(c.subjects[0]),
          ") is not in the policy");
    }
  } else {
    d.reason = "no_credentials";
    d.message = StrCat(method,
                       ": credentials required: a bearer token (mlpipe "
                       "--token, MLPIPE_TOKEN) or a client certificate the "
                       "policy names");
  }
  if (who != nullptr) {
    d.principal = who->name;
    d.service = who->service;
  }
  if (IsPublicMethod(method)) {
    d.outcome = Outcome::kAllowed;
    d.reason.clear();
    d.message.clear();
    return d;
  }
  if (who == nullptr) {
    d.outcome = Outcome::kUnauthenticated;
    return d;
  }
  if ((RolesAllowing(method) & who->roles) == 0) {
    d.outcome = Outcome::kPermissionDenied;
    d.reason = "not_allowed";
    d.message = StrCat("principal '", who->name, "' may not call ", method,
                       " (no role of it allows the method)");
    return d;
  }
  d.outcome = Outcome::kAllowed;
  return d;
}

}  // namespace mlpipe::auth
